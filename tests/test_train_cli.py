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


def test_bench_quick_json(tmp_path):
    p = cli('metamr_bench', '--quick', '--algos', 'reptile', '--executions', 'loop,vmap,batched,jax', '--json', '--out', tmp_path/'b.json')
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res == json.loads((tmp_path/'b.json').read_text())  # the saved result is the printed one
    rows, meta, prov = res['rows'], res['meta'], res['provenance']
    assert [r['meta_batch'] for r in rows] == [4, 32]
    assert all(r['batched_speedup'] > 0 and r['vmap_speedup'] > 0 for r in rows) and meta['ceiling_gflops'] > 0
    assert {'commit', 'torch', 'cpu', 'threads', 'command'} <= set(prov) and meta['pinned']['threads'] == 1
    for r in rows:  # a paired ratio to JAX where JAX ran, else the reason it did not
        assert ('batched_vs_jax' in r) or r['skipped']['jax'].startswith('JAX not installed'), r

def _cuda():
    import torch
    return torch.cuda.is_available()


def test_device_cuda_refused_without_a_gpu(tmp_path):
    if _cuda(): pytest.skip('a GPU is visible: the refusal is for machines without one')
    p = cli('metamr_train', '--device', 'cuda', '--steps', 2, '--meta-batch', 2, '--quiet', '--out', tmp_path/'run')
    assert p.returncode == 2 and '--device' in p.stderr and 'use the CPU (--device cpu, the default)' in p.stderr, p.stderr
    assert not (tmp_path/'run').exists()  # refused before anything is written
    p = cli('metamr_train', '--device', 'tpu', '--steps', 2, '--quiet', '--out', tmp_path/'run')
    assert p.returncode == 2 and "use 'cpu' or 'cuda'" in p.stderr, p.stderr


def test_device_cuda_trains_on_the_gpu(tmp_path):
    if not _cuda(): pytest.skip('no CUDA device visible to torch: --device cuda cannot run here')
    p = cli('metamr_train', '--device', 'cuda', '--algo', 'maml', '--steps', 20, '--meta-batch', 5, '--eval-every', 0,
            '--val-tasks', 5, '--quiet', '--out', tmp_path/'run')
    assert p.returncode == 0, p.stderr
    assert (tmp_path/'run'/'checkpoint.pt').exists()


def test_compiled_run_resumes_bit_for_bit(tmp_path):
    "--compile --sampler torch: one run of 40 steps and one of 20 + a resume to 40 end with the same weights, bit for bit."
    import torch
    common = ('--algo', 'maml', '--meta-batch', 5, '--eval-every', 0, '--val-tasks', 5, '--compile', '--sampler', 'torch', '--quiet')
    whole = cli('metamr_train', *common, '--steps', 40, '--out', tmp_path/'whole', timeout=900)
    assert whole.returncode == 0, whole.stderr
    half = cli('metamr_train', *common, '--steps', 20, '--out', tmp_path/'half', timeout=900)
    assert half.returncode == 0, half.stderr
    again = cli('metamr_train', '--resume', '--steps', 40, '--quiet', '--out', tmp_path/'half', timeout=900)
    assert again.returncode == 0 and 'steps 20->40' in again.stdout, again.stderr
    cfg = json.loads((tmp_path/'half'/'config.json').read_text())
    assert cfg['trainer']['compile'] is True and cfg['trainer']['sampler'] == 'torch'
    a, b = (torch.load(tmp_path/n/'checkpoint.pt', weights_only=False)['learner']['model'] for n in ('whole', 'half'))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize('args,message', [
    (['--compile', '--nproc', '2'], 'drop --nproc 2'),
    (['--sampler', 'torch', '--family', 'linear'], 'draws fresh sinusoid tasks only, not linear; use --sampler numpy'),
    (['--compile', '--algo', 'anil'], 'leave compile out'),
    (['--compile', '--activation', 'tanh'], 'leave compile out'),
])
def test_compile_refusals(tmp_path, args, message):
    p = cli('metamr_train', *args, '--steps', 2, '--quiet', '--out', tmp_path/'r')
    assert p.returncode == 2 and message in p.stderr and 'Traceback' not in p.stderr, p.stderr
