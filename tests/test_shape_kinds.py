"""The shape-kind comparison (scripts/shape_kinds.py): the saved results have the schema the code writes, and a
reduced run (`--quick`: tiny runs, a few tasks) works in seconds and agrees with the `metamr_eval` command it records."""
import contextlib, importlib.util, io, json, math, shlex
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('shape_kinds', ROOT/'scripts'/'shape_kinds.py')
sk = importlib.util.module_from_spec(spec); spec.loader.exec_module(sk)


def test_saved_results_schema():
    "results/shape_kinds.json, which the comparison page reads, has the shape this code writes (and is a full run)."
    d = json.loads((ROOT/'results'/'shape_kinds.json').read_text())
    sk.check(d)
    assert d['quick'] is False and '--quick' not in d['command']
    assert {(r['learner'], r['shots']) for r in d['results'] if r['kind'] == 'meta'} == \
        {(n, K) for n in ('fomaml', 'reptile', 'maml', 'cnp') for K in (1, 5)}


def test_saved_long_results_schema():
    "results/shape_kinds_long.json (the page's longer 5-shot budget) has the same shape, and gives both sides the longer budget."
    d = json.loads((ROOT/'results'/'shape_kinds_long.json').read_text())
    sk.check(d)
    assert d['quick'] is False and '--quick' not in d['command']
    assert d['meta_steps'] > json.loads((ROOT/'results'/'shape_kinds.json').read_text())['meta_steps']
    # the pretrained baseline sees as many images as the meta-learner: steps × (meta-batch · N · (K + Q))
    assert d['pretrained']['steps'] == d['meta_steps'] and d['pretrained']['batch'] == d['meta_batch']*d['ways']*(5 + d['queries'])
    assert {(r['learner'], r['shots']) for r in d['results']} == {('cnp', 5), ('scratch', 5), ('pretrained', 5)}


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


def test_quick_matches_metamr_eval(quick):
    "A meta-learner's stored row is exactly what its recorded `metamr_eval` command prints."
    from metamr_nb.cli import eval_main
    row = next(r for r in quick['results'] if r['learner'] == 'fomaml')
    out = io.StringIO()
    with contextlib.redirect_stdout(out): eval_main(shlex.split(row['eval_command'])[1:])
    got = json.loads(out.getvalue())['steps']
    for s, v in row['steps'].items():
        assert math.isclose(got[s]['acc'], v['acc'], abs_tol=1e-5) and math.isclose(got[s]['mean'], v['loss'], rel_tol=1e-4), (s, got[s], v)
