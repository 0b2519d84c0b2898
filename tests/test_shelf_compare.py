"""The shelf comparison (metamr_nb.shelf, `python -m metamr_nb.shelf`): a reduced run (`--quick`) writes a results file
with every setup and learner, its budgets, its measured seconds and its provenance; the expectations are decided from
the recorded numbers, and `check` refuses a file whose verdicts do not follow from them. No test asserts a duration."""
import copy, json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8'}
from metamr_nb import shelf


@pytest.fixture(scope='module')
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp('shelf')/'shelf.json'
    p = subprocess.run([sys.executable, '-m', 'metamr_nb.shelf', '--quick', '--out', str(out)], capture_output=True,
                       text=True, env=ENV, cwd=ROOT, timeout=1800)  # only a hang reaches the timeout
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(out.read_text()), p.stdout


def test_quick_run_has_every_setup_and_learner(quick):
    d, out = quick
    shelf.check(d)  # the schema, every run, and the verdicts recomputed from the numbers
    assert d['quick'] is True and d['command'] == f"python -m metamr_nb.shelf --quick --out {d['command'].split()[-1]}"
    assert set(d['budgets']) == {'sinusoid_k5', 'sinusoid_k10', 'gp', 'shapes_1shot', 'shapes_5shot'}
    assert {k: (b['K'], b['steps']) for k, b in d['budgets'].items()} == {
        'sinusoid_k5': (5, 6), 'sinusoid_k10': (10, 6), 'gp': (10, 6), 'shapes_1shot': (1, 3), 'shapes_5shot': (5, 3)}
    assert d['budgets']['shapes_5shot']['family']['split'] == 'train' and d['budgets']['gp']['family']['kernel'] == 'rbf'
    for k, r in d['runs'].items():
        assert r['train_wall_s'] > 0 and r['train_cpu_s'] > 0, k  # measured, per run
        assert r['meta_batch'] == d['budgets'][k.split('/')[0]]['meta_batch'], k
    assert d['seconds']['wall'] > 0 and d['seconds']['cpu'] > 0
    assert [e['id'] for e in d['expectations']] == ['metasgd_vs_maml', 'protonet_vs_maml', 'acnp_vs_cnp']
    for e in d['expectations']: assert ('holds  ' if e['holds'] else 'FAILS  ') + e['claim'] in out


def test_quick_run_records_its_provenance(quick):
    d, _ = quick
    pv = d['provenance']
    assert {'commit', 'dirty', 'torch', 'numpy', 'cpu', 'cpu_capability', 'threads', 'command'} <= set(pv)
    assert pv['threads'] == 1 and pv['command'] == d['command'] and len(pv['commit']) == 40
    assert pv['torch'] == d['torch'] and pv['metamr_nb'] == d['version']


def test_protonet_gets_mamls_cpu_time(quick):
    "ProtoNet trains until its CPU time reaches what MAML's training used, and records the meta-steps that bought."
    d, _ = quick
    for K in (1, 5):
        p, m = d['runs'][f'shapes_{K}shot/protonet'], d['runs'][f'shapes_{K}shot/maml']
        assert p['cpu_budget_s'] == m['train_cpu_s'] and p['train_cpu_s'] >= p['cpu_budget_s']
        assert p['meta_steps'] >= 1 and list(p['eval']) == ['0'] and m['meta_steps'] == d['budgets'][f'shapes_{K}shot']['steps']


def test_gp_scores_have_the_exact_posterior_as_floor(quick):
    d, _ = quick
    for n in ('cnp', 'acnp'):
        r = d['runs'][f'gp/{n}']
        assert r['nll']['ci95'] > 0 and r['eval']['0']['n'] == d['budgets']['gp']['tasks']
    assert {'nll', 'mse'} <= set(d['gp_ideal']) and d['gp_ideal']['mse']['mean'] > 0


def test_check_refuses_verdicts_that_do_not_follow(quick):
    d, _ = quick
    bad = copy.deepcopy(d); bad['expectations'][0]['holds'] = not bad['expectations'][0]['holds']
    with pytest.raises(AssertionError, match='do not follow'): shelf.check(bad)
    bad = copy.deepcopy(d); del bad['runs']['gp/acnp']
    with pytest.raises(AssertionError): shelf.check(bad)
    bad = copy.deepcopy(d); bad['runs']['shapes_5shot/protonet']['cpu_budget_s'] += 1.0
    with pytest.raises(AssertionError): shelf.check(bad)


def _row(loss=None, ci=None, acc=None, aci=None):
    return {'loss': loss, 'loss_ci95': ci, 'acc': acc, 'acc_ci95': aci}


def test_expectations_follow_the_intervals():
    "Each verdict on made-up numbers: apart intervals hold, overlapping ones do not; ProtoNet's 'match' allows overlap."
    def res(ms, mm, p, m, a, c):
        return {'runs': {'sinusoid_k5/metasgd': {'eval': {'1': _row(*ms)}}, 'sinusoid_k5/maml': {'eval': {'1': _row(*mm)}},
                         'shapes_5shot/protonet': {'eval': {'0': _row(1, 0, *p)}, 'meta_steps': 30, 'train_cpu_s': 2.0},
                         'shapes_5shot/maml': {'eval': {'0': _row(1, 0, 0.2, 0.01), '1': _row(1, 0, *m)}, 'meta_steps': 10,
                                               'train_cpu_s': 2.0},
                         'gp/acnp': {'nll': {'mean': a[0], 'ci95': a[1]}}, 'gp/cnp': {'nll': {'mean': c[0], 'ci95': c[1]}}}}
    e = shelf.expectations(res((0.5, 0.1), (1.0, 0.1), (0.6, 0.02), (0.55, 0.02), (0.1, 0.05), (0.4, 0.05)))
    assert [x['holds'] for x in e] == [True, True, True] and e[1]['beats'] is True and e[1]['b']['inner_steps'] == 1
    e = shelf.expectations(res((0.5, 0.3), (1.0, 0.3), (0.55, 0.02), (0.57, 0.02), (0.1, 0.2), (0.4, 0.2)))
    assert [x['holds'] for x in e] == [False, True, False] and e[1]['beats'] is False
    e = shelf.expectations(res((1.2, 0.1), (1.0, 0.1), (0.40, 0.02), (0.60, 0.02), (0.5, 0.05), (0.4, 0.05)))
    assert [x['holds'] for x in e] == [False, False, False]


def test_quick_needs_its_own_file():
    with pytest.raises(SystemExit): shelf.options(['--quick'])
    with pytest.raises(SystemExit): shelf.options(['--size', '8'])


def test_saved_results():
    "results/shelf.json, which the shelf page reads, is a full run of this code, made from committed code."
    d = json.loads((ROOT/'results'/'shelf.json').read_text())
    shelf.check(d)
    assert d['quick'] is False and '--quick' not in d['command'] and d['provenance']['dirty'] is False
