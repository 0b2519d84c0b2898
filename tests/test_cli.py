"""The installed `metamr_data` console script, run the way a user runs it: as a subprocess.

Every run pays Python's start-up plus `import torch` (~1.5 s, via metamr_nb.tasks), so the
`runs` fixture starts all the commands at once and the tests only inspect their results; metamr_nb
itself is imported inside the tests, so this process's own torch import overlaps the commands.
"""
import os, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

EXE = shutil.which('metamr_data', path=str(Path(sys.executable).parent)) or shutil.which('metamr_data')
ARGS = ['--family', 'sinusoid', '--tasks', '40', '--shots', '5', '--queries', '7', '--seed', '3']
PRECIOUS = b'an existing file that must survive'

CASES = { # name -> arguments; {tmp} is the test's temporary folder
    'ok': ARGS + ['--out', '{tmp}/new/dir/a.npz'],
    'again': ARGS + ['--out', '{tmp}/b.npz'],
    'help': ['--help'],
    'bad_family': ['--family', 'sine', '--out', '{tmp}/x.npz'],
    'bad_option': ['--family', 'linear', '--bogus', '3', '--out', '{tmp}/x.npz'],
    'foreign_option': ['--family', 'linear', '--amplitude', '1,2', '--out', '{tmp}/x.npz'],
    'zero_shots': ['--shots', '0', '--out', '{tmp}/x.npz'],
    'exists': ARGS + ['--out', '{tmp}/precious.npz'],
}

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "Run every case concurrently; returns (tmp folder, name -> CompletedProcess)."
    assert EXE, "metamr_data is not installed; run `pip install -e .` (or `make setup`)"
    tmp = tmp_path_factory.mktemp('cli')
    (tmp/'precious.npz').write_bytes(PRECIOUS)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8'}
    procs = {k: (a := [EXE, *(s.format(tmp=tmp) for s in args)],
                 subprocess.Popen(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
             for k, args in CASES.items()}
    res = {}
    for k, (a, p) in procs.items():
        out, err = p.communicate(timeout=600)
        res[k] = subprocess.CompletedProcess(a, p.returncode, out, err)
    return tmp, res

def _error(r):
    "Assert a clean failure: exit 2, one 'metamr_data: error:' line on stderr, no traceback; return that line."
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert 'Traceback' not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('metamr_data: error: '), r.stderr
    return last

def _load(path):
    from metamr_nb.tasks import TaskSet
    return TaskSet.load(path)

def _families():
    from metamr_nb.registry import FAMILIES
    return list(FAMILIES)

def test_writes_a_task_set(runs):
    tmp, res = runs
    r = res['ok']
    assert r.returncode == 0, r.stderr
    path = tmp/'new/dir/a.npz'
    assert r.stdout.strip().startswith(f'wrote {path}: family=sinusoid T=40 K=5 Q=7 seed=3 size=')
    assert len(r.stdout.strip().splitlines()) == 1
    ts = _load(path)
    assert (len(ts), ts.shots, ts.queries, ts.d_in, ts.d_out) == (40, 5, 7, 1, 1)
    assert ts.meta['family'] == 'sinusoid' and ts.meta['seed'] == 3
    assert set(ts.params) == {'amplitude', 'phase', 'frequency'}

def test_same_seed_same_arrays(runs):
    tmp, res = runs
    assert res['again'].returncode == 0, res['again'].stderr
    a, b = _load(tmp/'new/dir/a.npz'), _load(tmp/'b.npz')
    for n in a.arrays: assert np.array_equal(a.arrays[n], b.arrays[n]), n
    for k in a.params: assert np.array_equal(a.params[k], b.params[k]), k

def test_help_lists_every_family(runs):
    r = runs[1]['help']
    assert r.returncode == 0, r.stderr
    for name in _families(): assert f'\n  {name} ' in r.stdout, name
    for flag in ('--amplitude', '--x-range', '--query-x-range', '--noise', '--slope', '--degree', '--families'):
        assert flag in r.stdout, flag

def test_unknown_family(runs):
    line = _error(runs[1]['bad_family'])
    assert "unknown family 'sine'" in line
    for name in _families(): assert name in line, name

def test_unknown_option(runs):
    line = _error(runs[1]['bad_option'])
    assert '--bogus' in line
    for flag in ('--slope', '--intercept', '--x-range', '--noise'): assert flag in line, flag

def test_option_of_another_family(runs):
    line = _error(runs[1]['foreign_option'])
    assert "--amplitude is not an option of family 'linear'" in line and '--slope' in line

def test_zero_shots(runs):
    tmp, res = runs
    line = _error(res['zero_shots'])
    assert 'shots (K) is 0; it must be at least 1' in line
    assert not (tmp/'x.npz').exists()

def test_existing_output_is_kept(runs):
    tmp, res = runs
    line = _error(res['exists'])
    assert 'already exists' in line and '--overwrite' in line
    assert (tmp/'precious.npz').read_bytes() == PRECIOUS
