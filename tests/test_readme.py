"""Every code block of README.md runs as written, at a reduced size, and prints what it says.

The blocks are read from README.md itself (made from nbs/index.ipynb by `make readme`); only their sizes shrink
(1,000 tasks to 40, 70,000 meta-steps to 30), through the substitutions below, each of which must match. The Python
blocks run in one fresh interpreter in a temporary folder, the shell lines one by one with this venv's commands."""
import os, re, shlex, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8', 'PATH': f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
SMALLER = [('tasks=1000', 'tasks=40'), ('sample(1000,', 'sample(40,'), ('fit(70_000)', 'fit(30)'),
           ('--tasks 1000', '--tasks 40'), ('--steps 70000', '--steps 30')]
HANG = 900


def blocks(lang):
    text = (ROOT/'README.md').read_text(encoding='utf-8')
    return re.findall(rf'```{lang}\n(.*?)```', text, re.S)


def shrink(code):
    for a, b in SMALLER: code = code.replace(a, b)
    return code


def test_the_readme_has_the_blocks_this_test_reads():
    py, sh = blocks('python'), blocks('sh')
    assert len(py) >= 2 and any('metamr_train' in b for b in sh), (len(py), len(sh))
    text = '\n'.join(py + sh)
    for a, _ in SMALLER: assert a in text, f"the README no longer holds {a!r}: update SMALLER"


@pytest.fixture(scope='module')
def work(tmp_path_factory): return tmp_path_factory.mktemp('readme')


def test_python_blocks_run_and_print_what_they_say(work):
    code = '\n'.join(shrink(b) for b in blocks('python') if 'metamr_nb' in b)
    r = subprocess.run([sys.executable, '-c', code], cwd=work, capture_output=True, text=True, env=ENV, timeout=HANG)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'TaskSet(sinusoid: 40 tasks, K=10 support, Q=10 query, d_in=1, d_out=1' in r.stdout, r.stdout
    assert re.search(r'steps\s+query loss', r.stdout) and not re.search(r'nan|inf', r.stdout, re.I), r.stdout
    assert (work/'runs/maml_py/checkpoint.pt').exists()


def test_shell_lines_run_and_print_what_they_say(work):
    lines = [l for b in blocks('sh') if 'metamr_train' in b for l in shrink(b).replace('\\\n', ' ').splitlines() if l.strip()]
    out = {}
    for line in lines:
        argv = shlex.split(line)
        if argv[0] == 'tensorboard':  # a server: check it is installed and that the run wrote the logs it would show
            logdir = work/argv[argv.index('--logdir') + 1]
            assert (BIN/'tensorboard').exists() and list(logdir.glob('events.out.tfevents.*')), logdir
            continue
        r = subprocess.run(argv, cwd=work, capture_output=True, text=True, env=ENV, timeout=HANG)
        assert r.returncode == 0, (line, r.stderr[-3000:])
        out.setdefault(argv[0], []).append(r.stdout)
    assert out['metamr_data'][0].startswith('wrote data/sin.npz: family=sinusoid T=40 K=10 Q=10 seed=0')
    assert out['metamr_train'][0].startswith('trained maml steps 0->30')
    assert len(out['metamr_eval']) == 2
    for text, k in zip(out['metamr_eval'], ('K=10', 'K=5')):
        assert f'maml on 40 tasks, {k}, inner lr 0.01, safeguarded' in text, text
        assert re.search(r'steps\s+query loss', text) and not re.search(r'nan|inf|diverged', text, re.I), text
