"""The installed `metamr_train`, `metamr_eval` and `metamr_bench` console scripts, run as a user runs them.

The notebook nbs/10_cli.ipynb tests the commands' logic in-process; here we check the installed
entry points end to end: a run folder with TensorBoard events, JSON evaluation, resume, exit codes."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8'}


def cli(name, *args, timeout=300):
    exe = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert exe, f"{name} is not installed; run `make setup`"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A short MAML run made by the installed metamr_train."
    out = tmp_path_factory.mktemp('train')/'maml'
    p = cli('metamr_train', '--algo', 'maml', '--steps', 200, '--meta-batch', 10, '--eval-every', 100, '--val-tasks', 20,
            '--quiet', '--out', out)
    assert p.returncode == 0, p.stderr
    return out, p


def test_train_writes_a_run(run):
    out, p = run
    assert 'trained maml steps 0->200' in p.stdout
    assert sorted(o.name for o in out.iterdir()) == ['checkpoint.pt', 'config.json', 'tb']
    events = list((out/'tb').glob('events.out.tfevents.*'))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(out/'tb')); ea.Reload()
    assert {'train/meta_loss', 'train/outer_lr', 'val/query_loss_adapted'} <= set(ea.Tags()['scalars'])
    assert [e.step for e in ea.Scalars('train/meta_loss')] == list(range(10, 201, 10)) and [e.step for e in ea.Scalars('val/query_loss_adapted')] == [100, 200]
    cfg = json.loads((out/'config.json').read_text())
    assert cfg['learner']['algo'] == 'maml' and cfg['model']['widths'] == [40, 40] and cfg['cli']['steps'] == 200


def test_eval_json_and_table(run):
    out, _ = run
    p = cli('metamr_eval', out, '--tasks', 100, '--json')
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert sorted(r['steps'], key=int) == ['0', '1', '5', '10'] and r['tasks'] == 100
    assert all(set(v) == {'mean', 'ci95', 'median', 'diverged'} and v['ci95'] > 0 and v['diverged'] == 0 for v in r['steps'].values())
    assert r['steps']['10']['mean'] < r['steps']['0']['mean']
    p = cli('metamr_eval', out, '--tasks', 100, '--steps', '0,1')
    assert p.returncode == 0 and 'query loss (95% CI)' in p.stdout and len(p.stdout.strip().splitlines()) == 4


def test_resume_continues(run, tmp_path):
    out, _ = run
    copy = tmp_path/'copy'; shutil.copytree(out, copy)
    p = cli('metamr_train', '--resume', '--steps', 250, '--quiet', '--out', copy)
    assert p.returncode == 0, p.stderr
    assert 'steps 200->250' in p.stdout


@pytest.mark.parametrize('args,message', [
    (['--algo', 'snail'], "invalid choice: 'snail'"),
    (['--inner-steps', '-1'], '--inner-steps is -1'),
    (['--inner-lr', '0'], 'a learning rate must be positive'),
    (['--meta-batch', '0'], '--meta-batch is 0'),
])
def test_train_bad_options(tmp_path, args, message):
    p = cli('metamr_train', *args, '--out', tmp_path/'r')
    assert p.returncode == 2 and message in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert not (tmp_path/'r').exists()


def test_eval_architecture_mismatch(run):
    out, _ = run
    p = cli('metamr_eval', out, '--widths', '64,64')
    assert p.returncode == 2 and 'has hidden layers [40, 40], not --widths 64,64' in p.stderr


def test_bench_quick_json():
    p = cli('metamr_bench', '--quick', '--algos', 'reptile', '--json')
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r['meta_batch'] for r in rows] == [4, 32]
    assert all(r['batched_speedup'] > 0 and r['vmap_speedup'] > 0 and r['ceiling_gflops'] > 0 for r in rows)
