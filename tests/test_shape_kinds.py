"""The shape-kind comparison (metamr_nb.shape_kinds, `python -m metamr_nb.shape_kinds`): the saved results have the schema the code writes, and a
reduced run (`--quick`: tiny runs, a few tasks) works in seconds and agrees with the `metamr_eval` command it records."""
import contextlib, io, json, math, re, shlex
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
from metamr_nb import shape_kinds as sk


def test_saved_results_schema():
    "results/shape_kinds.json, which the comparison page reads, has the shape this code writes (and is a full run)."
    d = json.loads((ROOT/'results'/'shape_kinds.json').read_text())
    sk.check(d)
    assert d['quick'] is False and '--quick' not in d['command']
    assert {(r['learner'], r['shots']) for r in d['results'] if r['kind'] == 'meta'} == \
        {(n, K) for n in sk.LEARNERS for K in (1, 5)}  # every meta-learner of the protocol's default run


def test_saved_long_results_schema():
    "results/shape_kinds_long.json (the page's longer 5-shot budget) has the same shape, and gives both sides the longer budget."
    d = json.loads((ROOT/'results'/'shape_kinds_long.json').read_text())
    sk.check(d)
    assert d['quick'] is False and '--quick' not in d['command']
    assert d['meta_steps'] > json.loads((ROOT/'results'/'shape_kinds.json').read_text())['meta_steps']
    # the pretrained baseline sees as many images as the meta-learner: steps × (meta-batch · N · (K + Q))
    assert d['pretrained']['steps'] == d['meta_steps'] and d['pretrained']['batch'] == d['meta_batch']*d['ways']*(5 + d['queries'])
    assert {(r['learner'], r['shots']) for r in d['results']} == {('cnp', 5), ('scratch', 5), ('pretrained', 5)}


@pytest.mark.parametrize('name', ['shape_kinds_pre.json', 'shape_kinds_pre_seed1.json'])
def test_saved_pre_results_schema(name):
    """results/shape_kinds_pre*.json (the page's pretrained-start round, two training seeds): the meta-learners start from
    the 10,000-step pretrained network, which then trains as many steps more on as many images, so both sides are equal."""
    d = json.loads((ROOT/'results'/name).read_text())
    sk.check(d)
    assert d['quick'] is False and '--quick' not in d['command'] and d['pretrained_start'] is True
    more = d['pretrained']['more']
    assert more['steps'] == d['meta_steps'] and d['pretrained']['batch'] == d['meta_batch']*d['ways']*(5 + d['queries'])
    assert d['pretrained']['steps'] == json.loads((ROOT/'results'/'shape_kinds_long.json').read_text())['pretrained']['steps']
    metas = {r['learner'] for r in d['results'] if r['kind'] == 'meta'}
    assert 'cnp' in metas and {(r['learner'], r['shots']) for r in d['results']} == \
        {(n, 5) for n in metas | {'scratch', 'pretrained'}}
    if name.endswith('_seed1.json'):  # another training seed; the same baselines on the same tasks
        first = json.loads((ROOT/'results'/'shape_kinds_pre.json').read_text())
        assert d['seed'] == 1 and all(r['path'].endswith('_seed1') and '--seed 1 ' in r['train_command'] for r in d['runs'].values())
        base = lambda res: [r for r in res['results'] if r['kind'] == 'baseline']
        assert base(d) == base(first)


def test_reuse_refuses_other_settings(tmp_path):
    "A finished run is reused only if its stored settings, switches included, are the ones asked for."
    run = tmp_path/'maml_5shot'; run.mkdir()
    (run/'config.json').write_text(json.dumps({'cli': {'algo': 'maml', 'inner_lr': 0.4, 'zero_head': False, 'init_from': None},
                                               'source': {'config': {'ways': 5}}}))
    for cmd, why in ((['--algo', 'maml', '--inner-lr', '0.4', '--zero-head'], '--zero-head not given'),
                     (['--algo', 'maml', '--inner-lr', '0.1'], '--inner-lr 0.4 (not 0.1)'),
                     (['--algo', 'maml', '--init-from', 'pre.pt'], '--init-from None (not pre.pt)'),
                     (['--ways', '3', '--algo', 'maml'], '--ways 5 (not 3)')):
        with pytest.raises(SystemExit, match=re.escape(why)): sk.check_settings(run, cmd, 10)


@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp('shape_kinds')/'r.json'
    with contextlib.redirect_stdout(io.StringIO()): sk.main(['--quick', '--shots', '1', '--learners', 'fomaml,reptile', '--out', str(out)])
    return json.loads(out.read_text())


def test_quick_run(quick):
    sk.check(quick)
    assert quick['quick'] is True and quick['tasks'] == 6
    assert {r['learner'] for r in quick['results']} == {'fomaml', 'reptile', 'scratch', 'pretrained'}
    assert len(quick['verdicts']) == 4  # each meta-learner against each baseline


def test_quick_pretrained_start(tmp_path):
    """--pretrained-start: the meta-learners start from the pretrained network's conv blocks, which then trains as many steps
    more (here with a second training seed)."""
    out = tmp_path/'r.json'
    with contextlib.redirect_stdout(io.StringIO()):
        sk.main(['--quick', '--shots', '1', '--learners', 'cnp', '--pretrained-start', '--seed', '1', '--out', str(out)])
    d = json.loads(out.read_text())
    sk.check(d)
    assert d['pretrained_start'] is True and d['pretrained']['more']['steps'] == d['meta_steps']
    cfg = json.loads((tmp_path/'runs'/'cnp_1shot_seed1'/'config.json').read_text())  # another seed: runs of its own
    assert cfg['cli']['seed'] == 1 == d['seed']
    assert cfg['start_from']['copied'] and all(k.startswith('features.') for k in cfg['start_from']['copied'])
    assert Path(cfg['start_from']['path']).name == Path(d['pretrained']['path']).name


def test_quick_matches_metamr_eval(quick):
    "A meta-learner's stored row is exactly what its recorded `metamr_eval` command prints."
    from metamr_nb.cli import eval_main
    row = next(r for r in quick['results'] if r['learner'] == 'fomaml')
    out = io.StringIO()
    with contextlib.redirect_stdout(out): eval_main(shlex.split(row['eval_command'])[1:])
    got = json.loads(out.getvalue())['steps']
    for s, v in row['steps'].items():
        assert math.isclose(got[s]['acc'], v['acc'], abs_tol=1e-5) and math.isclose(got[s]['mean'], v['loss'], rel_tol=1e-4), (s, got[s], v)
