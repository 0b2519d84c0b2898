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


# Where each shell line of the README is run. A line whose command is not here fails the test below: run it in a test,
# or name the test that does. (The metamr_* and tensorboard lines are run above; `make test` is what runs this suite.)
COVERED = {'make lab': 'tests/test_readme.py::test_make_lab_serves_the_notebooks', 'make test': '.ci/run',
           'pip install': 'tests/test_install.py', 'docker build': 'tests/test_container.py',
           'docker run': 'tests/test_container.py', 'metamr_data': 'tests/test_readme.py', 'metamr_train': 'tests/test_readme.py',
           'metamr_eval': 'tests/test_readme.py', 'tensorboard': 'tests/test_readme.py'}


def test_every_shell_line_of_the_readme_is_run_by_a_test():
    lines = [l.split('#')[0].strip() for b in blocks('sh') for l in b.replace('\\\n', ' ').splitlines()]
    lines = [l for l in lines if l]
    assert lines, 'no shell line found in README.md'
    for line in lines:
        key = next((k for k in COVERED if line == k or line.startswith(k + ' ')), None)
        assert key, f"README.md's `{line}` is run by no test: run it in one, or name the test in COVERED"
        where = COVERED[key].split('::')[0]
        if where.endswith('.py'): assert key.split()[-1] in (ROOT/where).read_text(), (key, where)  # it runs that command
        else: assert 'make test' in (ROOT/where).read_text(), where


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_make_lab_serves_the_notebooks(tmp_path):
    "The README's first command: `make lab` (setup already done) serves nbs/, with the lessons, behind the printed token."
    import json, signal, time, urllib.request
    port = _free_port()
    env = {k: v for k, v in ENV.items() if not k.startswith('JUPYTER')}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path/'config'), JUPYTER_RUNTIME_DIR=str(tmp_path/'runtime'),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path/'ws'), JUPYTER_DATA_DIR=str(tmp_path/'data'))
    log = tmp_path/'lab.log'
    p = subprocess.Popen(['make', '--no-print-directory', 'lab', f'PORT={port}'], cwd=ROOT, env=env, stdout=open(log, 'w'),
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end, url = time.monotonic() + HANG, None
        while url is None:  # the URL with its token, as the student reads it
            assert p.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < end, f'make lab printed no URL within {HANG} s:\n' + log.read_text()[-3000:]
            m = re.search(rf'http://127\.0\.0\.1:{port}/lab\?token=(\w+)', log.read_text())
            url = m and m.group(0)
            time.sleep(0.2)  # polling interval of a condition wait
        token = m.group(1)
        with urllib.request.urlopen(f'http://127.0.0.1:{port}/api/contents/tutorials?token={token}', timeout=60) as r:
            names = {c['name'] for c in json.load(r)['content']}
        assert {'sinusoid_adaptation.ipynb', 'mapreduce_steps.ipynb', 'shape_classification.ipynb'} <= names, names
        try: urllib.request.urlopen(f'http://127.0.0.1:{port}/api/contents/tutorials', timeout=60); opened = True
        except urllib.error.HTTPError as e: opened = e.code not in (401, 403)
        assert not opened, 'the server answered without the token'
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try: p.wait(30)
        except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait(10)
