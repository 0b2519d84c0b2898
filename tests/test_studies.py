"""The studies (metamr_nb.studies, `python -m metamr_nb.studies`): the saved results still have the schema the code writes, and a reduced run of
every study (`--quick`: tiny runs, 20 tasks per condition) works in seconds and agrees with `metamr_eval`."""
import contextlib, io, json, math, shlex
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
from metamr_nb import studies


@pytest.mark.parametrize('name', list(studies.STUDIES))
def test_saved_results_schema(name):
    "results/studies/NAME.json, which the study pages read, has the shape this code writes (and is a full run)."
    d = json.loads((ROOT/'results'/'studies'/f'{name}.json').read_text())
    studies.check(name, d)
    assert d['quick'] is False and '--quick' not in d['command'] and '--tasks' not in d['command']


@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp('studies')
    with contextlib.redirect_stdout(io.StringIO()): studies.main(['--quick', '--out', str(out)])
    return {n: json.loads((out/f'{n}.json').read_text()) for n in studies.STUDIES}


@pytest.mark.parametrize('name', list(studies.STUDIES))
def test_quick_run(quick, name):
    d = quick[name]
    studies.check(name, d)
    assert d['quick'] is True and d['tasks'] == 20


def test_quick_matches_metamr_eval(quick):
    "A stored row is exactly what its recorded `metamr_eval` command prints."
    from metamr_nb.cli import eval_main
    row = next(r for r in quick['extrapolation']['rows'] if r['band'] == 'A in [10, 15]')
    out = io.StringIO()
    with contextlib.redirect_stdout(out): eval_main(shlex.split(row['eval_command'])[1:])
    got = json.loads(out.getvalue())['steps']
    for s, v in row['steps'].items(): assert math.isclose(got[s]['mean'], v['mean'], rel_tol=1e-4), (s, got[s], v)


def test_quick_noise_uses_clean_queries(quick):
    "With no support noise the noise study's first row is the plain evaluation: the query targets are clean."
    rows = quick['noise']['rows']
    a = next(r for r in rows if r['learner'] == 'maml' and r['sigma'] == 0)
    b = next(r for r in quick['extrapolation']['rows'] if r['learner'] == 'maml' and r['axis'] == 'x' and r['band'] == 'in range')
    assert a['steps']['1']['mean'] == b['steps']['1']['mean']


def test_reproduction_matches_fidelity():
    "The reproduction table is a copy of results/fidelity.json; after rerunning the fidelity protocol, refresh it with\n    `python -m metamr_nb.studies --only reproduction`."
    fid = json.loads((ROOT/'results'/'fidelity.json').read_text())
    rep = json.loads((ROOT/'results'/'studies'/'reproduction.json').read_text())
    # every run's own scoring, and each K = 10 MAML run's scoring on 5-shot tasks (the paper's protocol for its table)
    want = [(n, ev) for n, r in fid['runs'].items() for ev in (r, *([r['at_5_shots']] if 'at_5_shots' in r else []))]
    assert [(r['run'], r['eval_command']) for r in rep['rows']] == [(n, ev['eval_command']) for n, ev in want], \
        'stale: run `python -m metamr_nb.studies --only reproduction`'
    assert any(r['train_shots'] == 10 and r['shots'] == 5 for r in rep['rows']), 'no row follows the paper (K = 10 model, 5 shots)'
    for r, (n, ev) in zip(rep['rows'], want):
        assert json.dumps(r['steps']) == json.dumps(ev['steps']), f"{n} is stale: run `python -m metamr_nb.studies --only reproduction`"
