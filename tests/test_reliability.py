"""Faults that need real processes: two trainings racing for one run folder, and a training killed with SIGKILL.

Everything is checked by its mechanism — exit codes, the messages, the lock file's holder and the checkpoint steps
read from the files — never by how long something took; the limits below only catch a hang. The single-process
cases (bad files, bad options, a full disk, a flipped bit) are on nbs/10a_reliability.ipynb, which runs them."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest

ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8', 'PYTHONUNBUFFERED': '1'}
EXE = shutil.which('metamr_train', path=str(Path(sys.executable).parent)) or shutil.which('metamr_train')
HANG = 600  # seconds: only a hang takes this long
SMALL = ['--meta-batch', '4', '--eval-every', '0', '--val-tasks', '4', '--quiet']


def _train(*args): return subprocess.Popen([EXE, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _wait_for(pred, what):
    "Poll a condition on the files (not a clock race: the limit only catches a hang)."
    end = time.monotonic() + HANG
    while time.monotonic() < end:
        if pred(): return
        time.sleep(0.05)
    raise AssertionError(f'gave up waiting for {what}')


def _holder(out):
    try: return json.loads((out/'.lock').read_text())['pid']
    except (OSError, ValueError, KeyError): return None


def test_second_training_into_a_locked_folder_is_refused_and_a_killed_holder_is_taken_over(tmp_path):
    from metamr_nb.training import load_checkpoint
    out = tmp_path/'run'
    first = _train('--steps', 10**7, '--ckpt-every', 20, *SMALL, '--out', out)  # runs until it is killed below
    try:
        _wait_for(lambda: _holder(out) == first.pid and (out/'checkpoint.pt').exists(), 'the first run to hold the lock and checkpoint')
        second = subprocess.run([EXE, '--steps', '30', *SMALL, '--out', str(out)], capture_output=True, text=True, env=ENV, timeout=HANG)
        assert second.returncode == 2, (second.returncode, second.stderr)
        assert f'is in use: pid {first.pid} on host' in second.stderr and 'Traceback' not in second.stderr, second.stderr
        again = subprocess.run([EXE, '--resume', '--steps', str(10**7 + 1), '--quiet', '--out', str(out)], capture_output=True, text=True, env=ENV, timeout=HANG)
        assert again.returncode == 2 and f'is in use: pid {first.pid}' in again.stderr, again.stderr  # resuming too
        assert first.poll() is None  # the holder was never disturbed
        assert _holder(out) == first.pid
        first.send_signal(signal.SIGKILL); first.wait(HANG)
    finally:
        if first.poll() is None: first.kill(); first.wait(HANG)
    assert _holder(out) == first.pid  # a killed process cannot clean up: its lock file stays, stale
    step = load_checkpoint(out)['step']
    assert step >= 20 and step % 20 == 0
    third = subprocess.run([EXE, '--resume', '--steps', str(step + 5), '--quiet', '--out', str(out)], capture_output=True, text=True, env=ENV, timeout=HANG)
    assert third.returncode == 0, third.stderr
    assert f'took over the lock of {out} from pid {first.pid}' in third.stderr, third.stderr
    assert load_checkpoint(out)['step'] == step + 5
    assert not (out/'.lock').exists() and not list(out.glob('.*.tmp'))  # released, and nothing half-written left


def test_two_runs_started_together_on_one_folder_leave_one_whole_run(tmp_path):
    "Both start at once: exactly one trains; config.json and the checkpoint are that run's (the seeds tell them apart)."
    from metamr_nb.training import load_checkpoint, config_differences
    out = tmp_path/'run'
    procs = [_train('--steps', 40, '--seed', s, '--ckpt-every', 10, *SMALL, '--out', out) for s in (1, 2)]
    res = [(p.wait(HANG), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in res)
    # one trains and the other is refused (in use); or, if one finished before the other looked, "already holds a run"
    assert codes == [0, 2], res
    loser = next(r for r in res if r[0] == 2)
    assert 'is in use: pid' in loser[2] or 'already holds a run' in loser[2], loser[2]
    winner = 1 + [r[0] for r in res].index(0)
    cfg = json.loads((out/'config.json').read_text())
    assert cfg['cli']['seed'] == winner and cfg['trainer']['seed'] == winner
    ck = load_checkpoint(out)
    assert ck['step'] == 40 and config_differences(cfg, json.loads(ck['run'])) == []
