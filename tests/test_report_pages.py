"""The report lessons' own checks, kept out of the student's view: Lessons 6 (nbs/tutorials/compare_kinds.ipynb) and 8
(nbs/tutorials/compare_shelf.ipynb) write their prose from the results files. Here each page is run as nbdev_test runs
it (every code cell in order, in one fresh kernel), and then every number its prose or tables showed is compared with
the file it came from, within the 95% interval stored next to it; the verdicts it words must follow from the intervals."""
import json
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT/'nbs'/'tutorials'


def _page(name: str) -> dict:
    "Run `nbs/tutorials/{name}.ipynb` headless, as nbdev_test does, and return the namespace its cells left."
    from execnb.nbio import read_nb
    from execnb.shell import CaptureShell
    sh = CaptureShell(TUTORIALS)
    sh.run_all(read_nb(TUTORIALS/f'{name}.ipynb'), exc_stop=True)
    return sh.user_ns


@pytest.fixture(autouse=True)
def _agg(monkeypatch): monkeypatch.setenv('MPLBACKEND', 'Agg')


# ---- Lesson 6: what kind of shape? (results/shape_kinds*.json)

def _intervals_agree(d):
    "Every stored verdict is the one its intervals give (the page words the stored verdicts)."
    for v in d['verdicts']:
        assert v['separated'] == (v['acc'] - v['acc_ci95'] > v['baseline_acc'] + v['baseline_ci95']), v
        assert v['baseline_better'] == (v['baseline_acc'] - v['baseline_ci95'] > v['acc'] + v['acc_ci95']), v


def _val(r):
    "A result's validation accuracy at its chosen setting (as the page reads it)."
    return r['val_acc'][f"{r['inner_lr']:g}/{r['chosen_steps']}" if r['kind'] == 'baseline' else str(r['chosen_steps'])]


def test_shape_kinds_results_hold_what_lesson6_words():
    "The four files the page reads have the shape, learners, step counts and rounds its prose relies on."
    from metamr_nb.shape_kinds import load_shape_kinds, check
    res, long, pre, seed1 = (load_shape_kinds(f) for f in ('shape_kinds.json', 'shape_kinds_long.json',
                                                           'shape_kinds_pre.json', 'shape_kinds_pre_seed1.json'))
    for d in (res, long, pre, seed1): check(d); _intervals_agree(d)
    steps = [str(s) for s in res['eval_steps']]
    assert all(0 <= r['steps'][s]['acc'] <= 1 for r in res['results'] for s in steps)
    Ks = sorted({r['shots'] for r in res['results']})
    assert Ks == [1, 5] and {1, 5, 10, 25} <= set(res['eval_steps']) and res['eval_steps'] == sorted(res['eval_steps'])
    named = {(n, K) for n in ('fomaml', 'reptile', 'maml', 'cnp', 'scratch', 'pretrained') for K in Ks}
    assert named <= {(r['learner'], r['shots']) for r in res['results']}
    # the longer round gives both sides the longer budget
    assert long['meta_steps'] > res['meta_steps'] and long['pretrained']['steps'] == long['meta_steps']
    assert {(r['learner'], r['shots']) for r in long['results']} == {('cnp', 5), ('scratch', 5), ('pretrained', 5)}
    # the pretrained-start round starts from the longer round's pretrained network
    assert pre['pretrained_start'] and pre['pretrained']['steps'] == long['pretrained']['steps'] == long['meta_steps']
    assert {r['learner'] for r in pre['results'] if r['kind'] == 'meta'} == {'cnp', 'maml', 'maml0'}
    assert {r['shots'] for r in pre['results']} == {5} and all(_val(r) is not None for r in pre['results'])
    # its second training seed shares the baselines
    base = lambda d: [r for r in d['results'] if r['kind'] == 'baseline']
    assert seed1['seed'] == 1 and base(seed1) == base(pre)
    assert {r['learner'] for r in seed1['results'] if r['kind'] == 'meta'} == {'cnp', 'maml0'}


def test_lesson6_states_the_measured_numbers():
    """Every number Lesson 6's prose states (its `pct`/`pts` helpers record each one in QUOTED) is the measured one to
    within the 95% interval stored next to it (for a difference, that of the difference); validation scores, stored
    without one, to within the rounding to a whole percent."""
    ns = _page('compare_kinds')
    quoted = ns['QUOTED']
    assert len(quoted) > 30, len(quoted)  # the prose quotes dozens of numbers: an empty list would mean a broken page
    for measured, shown, tol in quoted: assert abs(measured - shown) <= tol + 1e-9, (measured, shown, tol)


# ---- Lesson 8: every learner on the shelf (results/shelf.json)

def test_lesson8_shows_the_recorded_numbers():
    """Every number Lesson 8 shows (its `show` helper records each with its path into the results, in SHOWN) is the one
    in a fresh read of results/shelf.json, within its 95% interval (at least half a unit of its last digit; a number shown
    without an interval, such as seconds, to that half unit); the verdicts follow from the numbers; the file is a full
    run made from committed code."""
    from metamr_nb.shelf import expectations
    ns = _page('compare_shelf')
    fresh = json.loads((ROOT/'results'/'shelf.json').read_text())

    def at(d, path):
        for k in path: d = d[k]
        return d
    shown = ns['SHOWN']
    assert len(shown) > 60, len(shown)
    for path, x, tol in shown: assert abs(at(fresh, path) - x) <= tol + 1e-12, (path, x, tol)
    assert expectations(fresh) == fresh['expectations'] == ns['res']['expectations']
    assert fresh['quick'] is False and fresh['provenance']['dirty'] is False


# ---- every lesson: what a student opens holds prose, figures and widgets, not the tests

def _lessons():
    """Every lesson: the notebooks of nbs/tutorials/ (the sidebar's *Lessons*), read from the source tree, since the
    generated nbs/sidebar.yml exists only after a docs build."""
    return sorted(p.relative_to(ROOT/'nbs').as_posix() for p in TUTORIALS.glob('*.ipynb') if not p.name.startswith(('_', '.')))


@pytest.mark.parametrize('path', _lessons())
def test_lessons_hold_no_test_code_in_view(path):
    """No lesson cell asserts (its checks live in tests/), and each `#| hide` cell (the switch nbdev_test sets, helpers
    that write the prose) is saved collapsed, so JupyterLab shows students a folded cell, as Voilà and the site show none."""
    import ast
    nb = json.loads((ROOT/'nbs'/path).read_text())
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source'])
        code = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))
        tops = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Assert)]
        # an assert inside a helper's body guards its input; one at the top level of a cell is a test
        fn_lines = {l for n in ast.walk(ast.parse(code)) if isinstance(n, (ast.FunctionDef, ast.Lambda))
                    for l in range(n.lineno, (n.end_lineno or n.lineno) + 1)}
        assert not [a.lineno for a in tops if a.lineno not in fn_lines], (path, c.get('id'), src[:200])
        if src.startswith('#| hide'):
            assert c.get('metadata', {}).get('jupyter', {}).get('source_hidden') is True, (path, c.get('id'))
