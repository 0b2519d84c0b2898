"""Distributed meta-training end to end: real 2-rank torchrun jobs on 127.0.0.1 (gloo, one thread per rank).

Every job pays Python start-up and `import torch` in three or four processes (launcher, torchrun agent, ranks), so
the `jobs` fixture starts all independent jobs at once and the tests only inspect their results; the one job that
needs another's output (resuming the failed run) starts when that one has finished. The whole file took 30 s on
an idle 16-CPU machine and 40-120 s on a 2-CPU machine busy with other work; no test asserts a duration. The notebook nbs/08_distributed.ipynb
tests the pieces in-process (shards, the sharded reduce, launch's checks)."""
import os, re, socket, subprocess, sys, time
from pathlib import Path
import pytest

ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8', 'PYTHONUNBUFFERED': '1'}
# 10 steps of 7 tasks: 7 is odd, so the two ranks map 3 and 4 tasks (uneven shards)
RUN = ['--steps', '10', '--meta-batch', '7', '--ckpt-every', '5', '--eval-every', '0', '--val-tasks', '10', '--quiet']
SGD = ['--algo', 'reptile', '--outer-opt', 'sgd', '--outer-lr', '1', *RUN]   # Reptile's own form: SGD, ε = 1 annealed
ADAM = ['--algo', 'maml', '--outer-opt', 'adam', '--outer-lr', '0.01', *RUN]
TRAIN = "from metamr_nb.cli import train_main; train_main()"   # metamr_train, with this interpreter


def _cmd(args): return [sys.executable, '-c', TRAIN, *map(str, args)]


def _torchrun(args, port):
    "torchrun started by hand, running metamr_train as the program of each of 2 ranks (--no-python)."
    exe = Path(sys.executable).parent/'metamr_train'
    return [sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node=2', '--rdzv-backend=c10d',
            f'--rdzv-endpoint=127.0.0.1:{port}', '--monitor-interval=0.5', '--no-python', str(exe), *map(str, args)]


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


class Job:
    "A command started now, with its output collected at `wait`."
    def __init__(self, cmd, env=None):
        self.cmd, self.t0 = [str(c) for c in cmd], time.perf_counter()
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**ENV, **(env or {})})
    def wait(self, timeout=900):  # only a hang reaches it
        try: out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill(); out, err = self.p.communicate()
        return subprocess.CompletedProcess(self.cmd, self.p.returncode, out, err), time.perf_counter() - self.t0


@pytest.fixture(scope='module')
def jobs(tmp_path_factory):
    "Start every job at once; the 1-process references run in this process meanwhile; resume once 'fault' is done."
    tmp = tmp_path_factory.mktemp('dist')
    fail = {'METAMR_FAIL_AT': '1:7'}   # rank 1 exits with code 3 after step 7, in the job's first attempt
    started = {
        'fault': Job(_cmd(SGD + ['--nproc', 2, '--out', tmp/'fault']), fail),
        'restart': Job(_cmd(SGD + ['--nproc', 2, '--max-restarts', 1, '--out', tmp/'restart']), fail),
        'hand': Job(_torchrun(SGD + ['--out', tmp/'hand'], _free_port())),
        'two': Job(_cmd(SGD + ['--nproc', 2, '--out', tmp/'two'])),
        'adam_two': Job(_cmd(ADAM + ['--nproc', 2, '--out', tmp/'adam_two'])),
    }
    from metamr_nb.cli import train_main   # the one-process references: metamr_train itself, in this process
    import torch
    torch.set_num_threads(1)
    train_main(SGD + ['--out', str(tmp/'one')]); train_main(ADAM + ['--out', str(tmp/'adam_one')])
    res = {'fault': started.pop('fault').wait()}
    res['fault_ckpt'] = torch.load(tmp/'fault'/'checkpoint.pt', weights_only=True)  # before resuming overwrites it
    resume = Job(_cmd(['--nproc', 2, '--resume', '--steps', 10, '--quiet', '--out', tmp/'fault']))
    res.update({k: j.wait() for k, j in started.items()})
    res['resume'] = resume.wait()
    return tmp, res


def _params(run):
    from metamr_nb.training import load_checkpoint
    ck = load_checkpoint(run)
    return ck['step'], ck['learner']['model']


def _diff(a, b):
    (sa, pa), (sb, pb) = _params(a), _params(b)
    assert sa == sb, (sa, sb)
    return max((pa[k] - pb[k]).abs().max().item() for k in pa)


def _ok(r):
    p, _ = r
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr[-3000:])
    return p


def test_two_ranks_match_one_process_sgd(jobs):
    tmp, res = jobs
    assert 'on 2 ranks' in _ok(res['two']).stdout
    d = _diff(tmp/'one', tmp/'two')
    print(f"Reptile (SGD outer step), 10 steps, 7 tasks on 1 vs 2 ranks: max |Δθ| = {d:.2e}")
    assert d <= 1e-6


def test_two_ranks_match_one_process_adam(jobs):
    tmp, res = jobs
    _ok(res['adam_two'])
    d = _diff(tmp/'adam_one', tmp/'adam_two')
    print(f"MAML (Adam outer step), 10 steps, 7 tasks on 1 vs 2 ranks: max |Δθ| = {d:.2e}")
    assert d <= 1e-5   # measured 6e-8 here; Adam divides by √v, which can magnify rounding differences of tiny gradients


# The learners without an inner loop (set encoders, ProtoNets) shard their gradient the same way: 2 ranks against
# 1 process, 6 steps of 5 tasks (uneven shards of 2 and 3). The CNP and ACNP draw a random context size on every rank.
# The ACNP and ProtoNets step with SGD here: each has parameters whose true gradient is exactly 0 (the attention's key
# bias shifts every score of a target alike, the embedding's last shift moves prototypes and queries alike), so their
# gradient is rounding noise, which Adam (dividing by its square root) turns into steps of a good fraction of lr, in a
# direction set by the order of the float additions (as for Reptile's residue on nbs/08_distributed.ipynb).
SET_RUNS = {'cnp': ['--algo', 'cnp', '--widths', '16,16'],
            'acnp': ['--algo', 'acnp', '--widths', '16,16', '--outer-opt', 'sgd', '--outer-lr', '0.1'],
            'protonet': ['--family', 'shape_kinds', '--ways', '3', '--algo', 'protonet', '--shots', '1', '--queries', '2',
                         '--hidden', '8', '--outer-opt', 'sgd', '--outer-lr', '0.1']}
SET_RUN = ['--steps', '6', '--meta-batch', '5', '--ckpt-every', '3', '--eval-every', '0', '--val-tasks', '6', '--quiet']


@pytest.fixture(scope='module')
def set_jobs(tmp_path_factory):
    "Each set learner's 2-rank job, started together; the 1-process references run in this process meanwhile."
    tmp = tmp_path_factory.mktemp('dist_set')
    started = {n: Job(_cmd(a + SET_RUN + ['--nproc', 2, '--out', tmp/f'{n}_two'])) for n, a in SET_RUNS.items()}
    from metamr_nb.cli import train_main
    import torch
    torch.set_num_threads(1)
    for n, a in SET_RUNS.items(): train_main(a + SET_RUN + ['--out', str(tmp/f'{n}_one')])
    return tmp, {n: j.wait() for n, j in started.items()}


@pytest.mark.parametrize('algo', list(SET_RUNS))
def test_set_learners_two_ranks_match_one_process(set_jobs, algo):
    tmp, res = set_jobs
    assert 'on 2 ranks' in _ok(res[algo]).stdout
    d = _diff(tmp/f'{algo}_one', tmp/f'{algo}_two')
    print(f"{algo}, 6 steps, 5 tasks on 1 vs 2 ranks: max |Δθ| = {d:.2e}")
    assert d <= 1e-5   # the sums differ only in the order of the float additions


def test_killed_rank_fails_the_job_and_names_it(jobs):
    "Checked by mechanism: exit code, the rank that failed, and the checkpoint step the launcher reads from the files."
    tmp, res = jobs
    p, took = res['fault']
    assert p.returncode != 0, (p.returncode, p.stderr[-3000:])
    assert 'rank 1 exits with code 3 after step 7' in p.stderr            # printed (and flushed) by rank 1 before it exits
    assert re.search(r'launch: rank \d \(local rank \d on .*\) failed first, with exit code', p.stderr), p.stderr[-3000:]
    # written by the launching process after every rank has ended: no race with torchrun stopping rank 0
    assert f"the job failed (exit code {p.returncode}); the last checkpoint is {tmp/'fault'/'checkpoint.pt'} (step 5); continue with --resume" in p.stderr, p.stderr[-3000:]
    assert 'torch/distributed/run.py' not in p.stderr                      # torchrun's own traceback is dropped
    ck = res['fault_ckpt']
    assert ck['step'] == 5 and set(ck) >= {'learner', 'np_rng', 'run'}      # the last checkpoint is intact and complete
    assert not list((tmp/'fault').glob('.checkpoint.pt.*.tmp'))             # no half-written temporary left behind
    assert not (tmp/'fault'/'.lock').exists()                               # the launcher released the run folder
    print(f"the failed 2-rank job ended {took:.1f} s after it started (reported, not asserted)")


def test_resume_after_failure_continues_to_the_same_parameters(jobs):
    tmp, res = jobs
    p = _ok(res['resume'])
    assert 'resumed from' in p.stderr and 'at step 5' in p.stderr, p.stderr
    assert 'steps 5->10 on 2 ranks' in p.stdout
    assert _diff(tmp/'fault', tmp/'two') == 0       # bit for bit the uninterrupted 2-rank run
    assert _diff(tmp/'fault', tmp/'one') <= 1e-6


def test_max_restarts_resumes_automatically(jobs):
    tmp, res = jobs
    p = _ok(res['restart'])
    assert 'rank 1 exits with code 3 after step 7' in p.stderr
    assert 'resumed from' in p.stderr and 'at step 5 (restart 1)' in p.stderr, p.stderr[-3000:]
    assert _diff(tmp/'restart', tmp/'two') == 0


def test_torchrun_by_hand_runs_metamr_train_as_ranks(jobs):
    "torchrun --no-python metamr_train ...: each rank resolves the command line itself; the same parameters bit for bit."
    tmp, res = jobs
    assert 'on 2 ranks' in _ok(res['hand']).stdout
    assert _diff(tmp/'hand', tmp/'two') == 0


def test_world_size_zero_is_a_clear_error(tmp_path, capsys):
    from metamr_nb.cli import train_main
    with pytest.raises(SystemExit) as e: train_main([str(a) for a in SGD + ['--nproc', 0, '--out', tmp_path/'zero']])
    assert e.value.code == 2
    assert '--nproc is 0; it must be at least 1' in capsys.readouterr().err


def test_ranks_take_options_not_a_command_line(tmp_path, capsys):
    "python -m metamr_nb.distributed reads the resolved options (a JSON file); a command line gets a message naming the fix."
    from metamr_nb.distributed import main
    with pytest.raises(SystemExit) as e: main(SGD + ['--out', str(tmp_path/'x')])
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'expected --options FILE' in err and 'metamr_train --nproc N' in err, err
    with pytest.raises(SystemExit) as e: main(['--options', str(tmp_path/'missing.json')])
    assert e.value.code == 2 and 'cannot read the options file' in capsys.readouterr().err
    assert not (tmp_path/'x').exists()


def test_launch_rejects_bad_input():
    from metamr_nb.distributed import launch, LaunchError
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LaunchError, match=f'port {port} is in use on this machine'): launch(2, SGD, port=port)
    with pytest.raises(LaunchError, match='nproc is 0; it must be a whole number >= 1'): launch(0, SGD)


@pytest.mark.parametrize('algo', ['acnp', 'protonet'])
def test_eval_reads_the_set_learner_runs(set_jobs, algo):
    "metamr_eval on an ACNP and a ProtoNet run (the one-process references above): table and JSON, finite, none diverged."
    import contextlib, io, json, math
    from metamr_nb.cli import eval_main
    tmp, _ = set_jobs
    def ev(*args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out): eval_main([str(tmp/f'{algo}_one'), '--tasks', '20', *args])
        return out.getvalue()
    r = json.loads(ev('--json'))
    assert r['tasks'] == 20 and r['loss'] == {'acnp': 'mse', 'protonet': 'ce'}[algo], r
    steps = list(r['steps'].values())
    assert all(math.isfinite(s['mean']) and s['diverged'] == 0 for s in steps), r
    assert all(s == steps[0] for s in steps), r  # no inner loop: every row is the one forward pass
    if algo == 'protonet': assert r['ways'] == 3 and 0 <= steps[0]['acc'] <= 1, r
    text = ev('--steps', '0')
    assert f'{algo} on 20 tasks' in text and 'no inner loop' in text and 'query loss (95% CI)' in text, text
    assert ('accuracy (95% CI)' in text) == (algo == 'protonet'), text
