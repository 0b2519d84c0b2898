"""Fidelity to the MAML sinusoid protocol, measured with the package's own commands (metamr_nb.fidelity,
`python -m metamr_nb.fidelity`).

The default suite runs the MAML K=10 protocol for 2,000 meta-steps. Its thresholds (1.45 after 1 step, 1.0 after 10)
were set above what that length measured when the test was written (seed 0, --init maml, 1,000 fresh tasks), with a
margin for other CPUs. (The network starts from tiny weights, so 2,000 steps are early days; results/fidelity.json
records what the full protocol reaches.)
The `slow` tests run the full 70,000-step protocol for every run and check our K = 10 targets; the comparison with
the MAML paper's five-point table is an expected failure (xfail), the miss measured on the fidelity page."""
import json, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


def fidelity(tmp_path, *args, raw=False):
    out = tmp_path/'fidelity.json'
    p = subprocess.run([sys.executable, '-m', 'metamr_nb.fidelity', *args, '--runs-dir', str(tmp_path/'runs'),
                        '--out', str(out)], capture_output=True, text=True, timeout=3600)
    assert p.returncode == 0, p.stderr
    runs = json.loads(out.read_text())['runs']
    if raw: return runs
    means = lambda steps: {int(s): v['mean'] for s, v in steps.items()}
    return {**{k: means(r['steps']) for k, r in runs.items()},
            **{f'{k}@5': means(r['at_5_shots']['steps']) for k, r in runs.items() if 'at_5_shots' in r}}


def test_maml_short_protocol(tmp_path):
    runs = fidelity(tmp_path, '--steps', '2000', '--runs', 'maml_k10', raw=True)
    r = {int(s): v['mean'] for s, v in runs['maml_k10']['steps'].items()}
    assert r[0] > r[1] > r[5] > r[10]
    assert r[1] <= 1.45 and r[10] <= 1.0, r
    # the paper's 5-shot protocol: the same K = 10 model scored on 5-point tasks, and the tasks behind its tail
    at5 = runs['maml_k10']['at_5_shots']
    assert '--shots 5' in at5['eval_command'] and sorted(at5['steps'], key=int) == ['0', '1', '5', '10']
    assert at5['steps']['1']['mean'] > r[1]  # five points adapt less than ten
    w = at5['worst']
    assert len(w['tasks']) == 5 and all(len(t['x_support']) == 5 and t['x_support'] == sorted(t['x_support']) for t in w['tasks'])
    worst = [max(t['loss_5'], t['loss_10']) for t in w['tasks']]
    assert all(w['trimmed_means']['5%'][s] <= w['trimmed_means']['1%'][s] for s in ('1', '5', '10'))
    assert worst == sorted(worst, reverse=True) and 0 <= w['above_10_after_10'] <= w['above_1_after_10'] <= 1
    # the same tasks again with the safeguarded inner step, on 10 and 5 points, and where the row came from
    for block in (runs['maml_k10']['safeguarded'], at5['safeguarded']):
        assert block['eval_command'].endswith('--safeguard') and all(v['diverged'] == 0 for v in block['steps'].values())
    assert set(runs['maml_k10']['provenance']) >= {'commit', 'torch', 'numpy', 'cpu', 'threads', 'command'}


def test_runs_side_by_side_keep_each_other(tmp_path):
    "Two fidelity processes started together, writing one results file (one per core), each keep the other's rows."
    out = tmp_path/'fidelity.json'
    cmd = lambda run: [sys.executable, '-m', 'metamr_nb.fidelity', '--steps', '20', '--tasks', '10', '--runs', run,
                       '--runs-dir', str(tmp_path/'runs'), '--out', str(out)]
    procs = [subprocess.Popen(cmd(run), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for run in ('maml_k5', 'reptile_k10')]
    for p in procs: assert p.wait(timeout=600) == 0, p.stderr.read()
    runs = json.loads(out.read_text())['runs']
    assert list(runs) == ['reptile_k10', 'maml_k5']  # both, in the protocol's order, whichever finished first
    assert 'at_5_shots' not in runs['maml_k5']  # only K = 10 MAML runs are scored again on 5 points



def test_refusals_name_the_problem(tmp_path):
    "A finished run folder whose results row is gone, and --eval-only without a run, stop with a message saying which and what to do."
    out = tmp_path/'fidelity.json'
    cmd = lambda *a: subprocess.run([sys.executable, '-m', 'metamr_nb.fidelity', '--steps', '20', '--tasks', '10',
                                     '--runs', 'reptile_k10', '--out', str(out), *a], capture_output=True, text=True, timeout=600)
    p = cmd('--runs-dir', str(tmp_path/'none'), '--eval-only')
    assert p.returncode == 1 and 'no run reptile_k10' in p.stderr and 'drop --eval-only' in p.stderr, p.stderr
    assert cmd('--runs-dir', str(tmp_path/'runs')).returncode == 0
    kept = json.loads(out.read_text())
    out.write_text(json.dumps({**kept, 'runs': {}}))  # the row is lost; the finished run folder stays
    p = cmd('--runs-dir', str(tmp_path/'runs'))
    assert p.returncode == 1 and 'holds a finished run reptile_k10' in p.stderr and 'has no row for it' in p.stderr, p.stderr
    assert json.loads(out.read_text())['runs'] == {}  # nothing written over


def test_reproduce_reruns_a_row_and_compares_it_with_its_record(tmp_path, capsys):
    """`metamr_reproduce ROW --steps N --results FILE` (what `make reproduce` runs, on a short row made here): it reruns
    the recorded command and every mean agrees on the machine that made it; a record moved outside its interval is
    reported as DIFFERS, and a row that is not recorded is refused with what to do."""
    import re
    rec = tmp_path/'rec.json'
    fid = subprocess.run([sys.executable, '-m', 'metamr_nb.fidelity', '--steps', '20', '--tasks', '30', '--runs', 'maml_k10',
                          '--runs-dir', str(tmp_path/'runs'), '--out', str(rec)], capture_output=True, text=True, timeout=1800)
    assert fid.returncode == 0, fid.stderr
    exe = str(Path(sys.executable).parent/'metamr_reproduce')
    run = lambda f, row='maml_k10': subprocess.run([exe, row, '--steps', '20', '--results', str(f)], capture_output=True,
                                                   text=True, timeout=1800)
    p = run(rec)
    assert p.returncode == 0, p.stderr
    assert 'recorded command: python -m metamr_nb.fidelity --steps 20 --tasks 30 --runs maml_k10' in p.stdout, p.stdout
    m = re.search(r'^(\d+) of (\d+) means agree within their recorded 95% interval$', p.stdout, re.M)
    assert m and int(m[1]) == int(m[2]) >= 16 and 'DIFFERS' not in p.stdout, p.stdout  # 4 blocks x 4 steps, all agree
    # the verdict can fail: the same comparison (the rerun above equals the record) against a record whose mean after
    # 1 step was moved far outside its interval
    from metamr_nb.fidelity import compare_rows
    row = json.loads(rec.read_text())['runs']['maml_k10']
    moved = json.loads(json.dumps(row))
    moved['steps']['1']['mean'] += 10*moved['steps']['1']['ci95'] + 1
    agree, total = compare_rows(moved, row)
    assert (agree, total) == (int(m[2]) - 1, int(m[2]))
    assert re.search(r'^10 points\s+1\s.*DIFFERS', capsys.readouterr().out, re.M)
    p = run(rec, 'maml_k5')
    assert p.returncode != 0 and "no recorded row 'maml_k5' of 20 steps in" in p.stderr and 'pick a row' in p.stderr, p.stderr


@pytest.mark.slow
def test_full_protocol(tmp_path):
    r = fidelity(tmp_path)
    assert r['maml_k10'][1] <= 0.40 and r['maml_k10'][10] <= 0.15, r['maml_k10']
    assert r['reptile_k10'][1] <= 0.45, r['reptile_k10']


@pytest.mark.slow
@pytest.mark.xfail(reason="measured miss (docs: fidelity page): the K = 10 model on 5-point tasks is level with the paper "
                          "after one step and above it after five and ten, carried by a tail of tasks", strict=False)
def test_paper_five_point_table(tmp_path):
    r = fidelity(tmp_path, '--runs', 'maml_k10')
    paper = {1: 0.67, 5: 0.38, 10: 0.35}  # MAML paper, table 2: its K = 10 model fine-tuned on 5 points, after 1/5/10 steps
    assert all(r['maml_k10@5'][s] < v for s, v in paper.items()), r['maml_k10@5']


@pytest.mark.slow
def test_paper_five_point_table_safeguarded(tmp_path):
    "With the safeguarded inner step, the protocol run on 5-point tasks beats the paper's means with no task diverged."
    runs = fidelity(tmp_path, '--runs', 'maml_k10', raw=True)
    st = runs['maml_k10']['at_5_shots']['safeguarded']['steps']
    paper = {'1': 0.67, '5': 0.38, '10': 0.35}
    assert all(st[s]['mean'] < v and st[s]['diverged'] == 0 for s, v in paper.items()), st
    k10 = runs['maml_k10']['safeguarded']['steps']
    assert k10['1']['mean'] <= 0.40 and k10['10']['mean'] <= 0.15, k10


def test_safeguard_results_schema():
    "results/fidelity.json: every K = 10 MAML row has plain and safeguarded scores side by side; six protocol seeds."
    r = json.loads((ROOT/'results'/'fidelity.json').read_text())
    seeds = ['maml_k10'] + [f'maml_k10_seed{s}' for s in range(1, 6)]
    assert set(seeds) <= set(r['runs']) and r['steps'] == 70000 and r['eval_tasks'] == 1000
    for name, run in r['runs'].items():
        if not name.startswith('maml_k10'): continue
        for block in (run['safeguarded'], run['at_5_shots']['safeguarded']):
            assert block['eval_command'].endswith('--safeguard') and sorted(block['steps'], key=int) == ['0', '1', '5', '10'], name


def test_other_kernels_results_schema():
    "results/fidelity_isa.json: the protocol run under ATEN_CPU_CAPABILITY=default, recorded as such."
    r = json.loads((ROOT/'results'/'fidelity_isa.json').read_text())
    pv = r['runs']['maml_k10']['provenance']
    assert pv['command'].startswith('ATEN_CPU_CAPABILITY=default ') and pv['cpu_capability'] == 'DEFAULT', pv
    ref = json.loads((ROOT/'results'/'fidelity.json').read_text())['runs']['maml_k10']
    assert ref['train_command'] == r['runs']['maml_k10']['train_command'].replace('fidelity_isa', 'fidelity'), 'the same command'


def test_saved_results_schema():
    "results/fidelity.json, the numbers the docs quote, still has the shape this code writes."
    r = json.loads((ROOT/'results'/'fidelity.json').read_text())
    assert {'version', 'steps', 'eval_tasks', 'runs'} <= set(r)
    for name, run in r['runs'].items():
        assert {'train_command', 'train_seconds', 'eval_command', 'eval_seconds', 'steps'} <= set(run), name
        assert run['train_command'].startswith('metamr_train ') and run['eval_command'].startswith('metamr_eval ')
        assert sorted(run['steps'], key=int) == ['0', '1', '5', '10']
        assert all(set(v) >= {'mean', 'ci95'} for v in run['steps'].values())
        sh = run['sharpness']  # metamr_eval --sharpness: quantiles in order, 2/lr at the run's inner lr (0.01 but in one row)
        lr = float(run['train_command'].split('--inner-lr ')[1].split()[0])
        assert sh['threshold'] == 2/lr and sh['q10'] <= sh['median'] <= sh['q90'] <= sh['max'] and 0 <= sh['above'] <= 1, name
        if name.startswith('maml_k10'):  # every K = 10 MAML run is also scored on 5-point tasks (the paper's table)
            at5 = run['at_5_shots']
            assert '--shots 5' in at5['eval_command'] and sorted(at5['steps'], key=int) == ['0', '1', '5', '10'], name
            assert len(at5['worst']['tasks']) == 5 and {'above_1_after_10', 'bunch_median_all'} <= set(at5['worst']), name
            tm = at5['worst']['trimmed_means']  # dropping more of the worst tasks can only lower a mean
            assert all(tm['5%'][s] <= tm['1%'][s] for s in ('1', '5', '10')), name
