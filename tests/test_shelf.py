"""ANIL and Meta-SGD through the whole pipeline: metamr_train, checkpoints, resume, load_run, metamr_eval (with and
without --safeguard), and the torch.distributed path (--nproc 2) against one process.

The notebook nbs/05_learners.ipynb checks the algorithms themselves (naive step = engine's step, loop = vmap);
here the rest of the package is checked to carry them: Meta-SGD's learned rates α travel in the checkpoint, the
outer step, the all-reduce and the evaluation. Two-rank jobs start first and run while the one-process
references train in this process; no test asserts a duration."""
import contextlib, io, json, os, subprocess, sys, time
from pathlib import Path
import pytest

ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8', 'PYTHONUNBUFFERED': '1'}
TRAIN = "from metamr_nb.cli import train_main; train_main()"
ALGOS = ('anil', 'metasgd')
# 10 steps of 7 tasks: the two ranks map 3 and 4 tasks (uneven shards)
RUN = ['--steps', '10', '--meta-batch', '7', '--ckpt-every', '5', '--eval-every', '5', '--val-tasks', '10', '--quiet']


def _cmd(args): return [sys.executable, '-c', TRAIN, *map(str, args)]


def run_main(main, *args):
    "Run a `*_main(args)` in this process: (exit code, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: main([str(a) for a in args]); code = 0
        except SystemExit as e: code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "For each algorithm: a 2-rank job (started first), one process straight through, and one stopped at 5 and resumed."
    import torch
    from metamr_nb.cli import train_main
    tmp = tmp_path_factory.mktemp('shelf')
    jobs = {a: subprocess.Popen(_cmd(['--algo', a, *RUN, '--nproc', 2, '--out', tmp/f'{a}_two']), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ENV) for a in ALGOS}
    torch.set_num_threads(1)
    for a in ALGOS:
        assert run_main(train_main, '--algo', a, *RUN, '--out', tmp/f'{a}_one')[0] == 0
        half = list(RUN); half[1] = '5'
        assert run_main(train_main, '--algo', a, *half, '--out', tmp/f'{a}_split')[0] == 0
        code, _, err = run_main(train_main, '--resume', '--steps', 10, '--quiet', '--out', tmp/f'{a}_split')
        assert code == 0, err
    done = {}
    for a, p in jobs.items():
        try: out, err = p.communicate(timeout=900)  # only a hang reaches it
        except subprocess.TimeoutExpired: p.kill(); out, err = p.communicate()
        done[a] = (p.returncode, out, err)
    return tmp, done


def _state(run):
    from metamr_nb.training import load_checkpoint
    ck = load_checkpoint(run)
    return ck['step'], {**ck['learner']['model'], **{'alpha:' + k: v for k, v in ck['learner'].get('alpha', {}).items()}}


@pytest.mark.parametrize('algo', ALGOS)
def test_resume_is_bitwise_the_uninterrupted_run(runs, algo):
    tmp, _ = runs
    (s1, a), (s2, b) = _state(tmp/f'{algo}_one'), _state(tmp/f'{algo}_split')
    assert s1 == s2 == 10 and set(a) == set(b)
    assert (algo == 'metasgd') == any(k.startswith('alpha:') for k in a)  # Meta-SGD's checkpoint holds its rates
    for k in a: assert __import__('torch').equal(a[k], b[k]), k


@pytest.mark.parametrize('algo', ALGOS)
def test_two_ranks_match_one_process(runs, algo):
    tmp, done = runs
    code, out, err = done[algo]
    assert code == 0, (out, err[-3000:])
    assert 'on 2 ranks' in out
    (s1, a), (s2, b) = _state(tmp/f'{algo}_one'), _state(tmp/f'{algo}_two')
    assert s1 == s2 and set(a) == set(b)
    d = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"{algo} (Adam outer step), 10 steps, 7 tasks on 1 vs 2 ranks: max difference of θ (and α) = {d:.2e}")
    assert d <= 1e-5  # Adam, as for MAML in test_distributed.py


@pytest.mark.parametrize('algo', ALGOS)
def test_load_run_and_eval(runs, algo):
    import numpy as np, torch
    from metamr_nb.cli import eval_main
    from metamr_nb.inference import load_run
    tmp, _ = runs
    ln = load_run(tmp/f'{algo}_one')
    assert type(ln).__name__ == {'anil': 'ANIL', 'metasgd': 'MetaSGD'}[algo]
    _, saved = _state(tmp/f'{algo}_one')
    if algo == 'metasgd':  # the learned rates come back, and they moved from their start
        for k, a in ln.alpha.items(): assert torch.equal(a.detach(), saved['alpha:' + k])
        assert any(not torch.equal(a, torch.full_like(a, ln.inner_lr)) for a in ln.alpha.values())
    else: assert ln.adapts == ['net.4.weight', 'net.4.bias']
    res = {}
    for sg in ((), ('--safeguard',)):
        code, out, err = run_main(eval_main, tmp/f'{algo}_one', '--tasks', 50, '--steps', '0,1,5', '--json', *sg)
        assert code == 0, err
        res[bool(sg)] = json.loads(out)['steps']
        assert all(np.isfinite(v['mean']) and v['diverged'] == 0 for v in res[bool(sg)].values())
    assert res[False]['0'] == res[True]['0']  # no step, nothing to guard
    code, out, err = run_main(eval_main, tmp/f'{algo}_one', '--tasks', 50, '--steps', '1')
    assert code == 0 and 'query loss (95% CI)' in out, err
    assert ('learned inner lr per parameter' in out) == (algo == 'metasgd'), out
    if algo == 'metasgd':  # --lr replaces the learned rates by one number for every parameter
        code, out, err = run_main(eval_main, tmp/f'{algo}_one', '--tasks', 50, '--steps', '0,1,5', '--json', '--lr', ln.inner_lr)
        assert code == 0, err
        plain = json.loads(out)['steps']
        assert plain['0'] == res[False]['0'] and plain['1']['mean'] != res[False]['1']['mean']
    code, _, err = run_main(eval_main, tmp/f'{algo}_one', '--tasks', 20, '--sharpness')
    assert code == 2 and 'leave --sharpness out' in err and 'Traceback' not in err, err


def test_batched_execution_is_refused(tmp_path):
    from metamr_nb.cli import train_main
    for a in ALGOS:
        code, _, err = run_main(train_main, '--algo', a, '--execution', 'batched', '--steps', 1, '--out', tmp_path/a)
        assert code == 2 and 'has no batched map' in err and 'Traceback' not in err, err
