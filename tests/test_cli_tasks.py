"""The GP family (`gp`, nbs/01a_gp.ipynb) and the image-folder family (`image_folder`, nbs/02a_images.ipynb) through
the installed `metamr_data`, `metamr_train` and `metamr_eval`, run as a user runs them: task sets that load back and
rebuild their family, three-step trainings of a gradient learner and a set encoder on each, and clean one-line errors.

The image folder is generated here (a few PNGs of random stroke glyphs in the Omniglot layout): nothing is downloaded.
Every command pays Python's start-up and `import torch`, so each stage starts its commands at once."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8'}
SHORT = ['--steps', '3', '--meta-batch', '2', '--val-tasks', '4', '--quiet']
FOLDER = ['--family', 'image_folder', '--root', '{root}', '--ways', '3']

TRAIN = {  # name -> (command, arguments); {tmp} is the test's folder, {root} the generated image folder
    'gp_data': ('metamr_data', ['--family', 'gp', '--kernel', 'periodic', '--period', '0.8,1.5', '--noise', '0.1', '--tasks', '20',
                                '--shots', '5', '--queries', '7', '--seed', '3', '--out', '{tmp}/gp.npz']),
    'gp_data_again': ('metamr_data', ['--family', 'gp', '--kernel', 'periodic', '--period', '0.8,1.5', '--noise', '0.1', '--tasks', '20',
                                      '--shots', '5', '--queries', '7', '--seed', '3', '--out', '{tmp}/gp_again.npz']),
    'gp_cnp': ('metamr_train', ['--family', 'gp', '--algo', 'cnp', '--widths', '16,16', *SHORT, '--out', '{tmp}/gp_cnp']),
    'gp_maml': ('metamr_train', ['--family', 'gp', '--kernel', 'matern52', '--algo', 'maml', *SHORT, '--out', '{tmp}/gp_maml']),
    'gp_bad_kernel': ('metamr_data', ['--family', 'gp', '--kernel', 'rbff', '--out', '{tmp}/x.npz']),
    'folder_data': ('metamr_data', [*FOLDER, '--split', 'test', '--tasks', '10', '--shots', '1', '--queries', '2', '--out', '{tmp}/folder.npz']),
    'folder_maml': ('metamr_train', [*FOLDER, '--algo', 'maml', '--shots', '1', '--queries', '2', '--hidden', '8', *SHORT,
                                     '--out', '{tmp}/folder_maml']),
    'folder_cnp': ('metamr_train', [*FOLDER, '--algo', 'cnp', '--rotations', '--shots', '1', '--queries', '2', '--hidden', '8',
                                    '--widths', '16', *SHORT, '--out', '{tmp}/folder_cnp']),
    'no_root': ('metamr_train', ['--family', 'image_folder', '--out', '{tmp}/y']),
    'missing_root': ('metamr_data', ['--family', 'image_folder', '--root', '{tmp}/nowhere', '--out', '{tmp}/y.npz']),
    'too_many_ways': ('metamr_train', [*FOLDER[:-1], '9', '--out', '{tmp}/y']),
    'too_many_shots': ('metamr_train', [*FOLDER, '--shots', '3', '--queries', '2', '--out', '{tmp}/y']),
}
EVAL = {  # run after TRAIN: the runs it scores exist then
    'folder_eval': ('metamr_eval', ['{tmp}/folder_maml', '--tasks', '12', '--steps', '0,1', '--split', 'val', '--json']),
    'gp_eval': ('metamr_eval', ['{tmp}/gp_cnp', '--tasks', '12', '--json']),
    'eval_too_many_shots': ('metamr_eval', ['{tmp}/folder_maml', '--shots', '4']),
}


def _start(name, args, tmp, root):
    exe = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert exe, f"{name} is not installed; run `make setup`"
    cmd = [exe, *(a.format(tmp=tmp, root=root) for a in args)]
    return cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _run_all(cases, tmp, root):
    procs = {k: _start(name, args, tmp, root) for k, (name, args) in cases.items()}
    res = {}
    for k, (cmd, p) in procs.items():
        out, err = p.communicate(timeout=900)  # a generous limit that only catches a hang
        res[k] = subprocess.CompletedProcess(cmd, p.returncode, out, err)
    return res


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "A generated folder (3 alphabets × 6 characters × 4 drawings), then every command; returns (tmp, root, name -> result)."
    from metamr_nb.images import make_toy_folder
    tmp = tmp_path_factory.mktemp('tasks_cli')
    root = make_toy_folder(tmp/'toy', alphabets=3, characters=6, images=4)
    res = _run_all(TRAIN, tmp, root)
    res.update(_run_all(EVAL, tmp, root))
    return tmp, root, res


def _ok(r):
    assert r.returncode == 0, (r.args, r.stdout, r.stderr)
    return r.stdout


def _error(r, prog):
    "A clean failure: exit 2, the last stderr line '<prog>: error: ...', no traceback; returns that line."
    assert r.returncode == 2, (r.args, r.returncode, r.stdout, r.stderr)
    assert 'Traceback' not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f'{prog}: error: '), r.stderr
    return last


def test_gp_task_set_loads_and_rebuilds_its_family(runs):
    tmp, _, res = runs
    assert _ok(res['gp_data']).startswith(f"wrote {tmp/'gp.npz'}: family=gp T=20 K=5 Q=7 seed=3")
    from metamr_nb.tasks import TaskSet
    from metamr_nb.registry import family_from_meta
    from metamr_nb.gp import GaussianProcess
    ts = TaskSet.load(tmp/'gp.npz')
    assert (len(ts), ts.shots, ts.queries, ts.d_in, ts.d_out) == (20, 5, 7, 1, 1)
    assert sorted(ts.params) == ['length_scale', 'period', 'variance'] and ts.meta['noise'] == {'support': 0.1, 'query': 0.0}
    fam = family_from_meta(ts)
    assert fam == GaussianProcess(kernel='periodic', period=(0.8, 1.5), noise=0.1)
    assert fam.ideal_scores(ts)['nll'].shape == (20,)
    again = TaskSet.load(tmp/'gp_again.npz')  # the same seed in another process: the same arrays
    for n in ts.arrays: assert np.array_equal(ts.arrays[n], again.arrays[n]), n


def test_gp_trains_a_set_encoder_and_maml(runs):
    tmp, _, res = runs
    for name, algo in (('gp_cnp', 'cnp'), ('gp_maml', 'maml')):
        assert f'trained {algo} steps 0->3' in _ok(res[name])
        cfg = json.loads((tmp/name/'config.json').read_text())
        assert cfg['source']['config']['name'] == 'gp' and cfg['learner']['algo'] == algo
    assert json.loads((tmp/'gp_maml'/'config.json').read_text())['source']['config']['kernel'] == 'matern52'
    r = json.loads(_ok(res['gp_eval']))
    assert r['tasks'] == 12 and np.isfinite(r['steps']['0']['mean'])


def test_folder_task_set_loads_and_rebuilds_its_family(runs):
    tmp, root, res = runs
    assert _ok(res['folder_data']).startswith(f"wrote {tmp/'folder.npz'}: family=image_folder T=10 K=3 Q=6")
    from metamr_nb.tasks import TaskSet
    from metamr_nb.registry import family_from_meta
    from metamr_nb.images import ImageFolder
    ts = TaskSet.load(tmp/'folder.npz')
    assert ts.x_support.shape == (10, 3, 784) and ts.y_support.dtype == np.int64 and ts.meta['image_size'] == 28
    fam = family_from_meta(ts)
    assert fam == ImageFolder(root, ways=3, split='test')
    assert set(ts.params['character'].ravel()) <= set(fam.characters)


def test_folder_trains_the_convnet_and_the_set_encoder(runs):
    tmp, _, res = runs
    for name, algo, kind in (('folder_maml', 'maml', 'conv'), ('folder_cnp', 'cnp', 'cnp_image')):
        assert f'trained {algo} steps 0->3' in _ok(res[name])
        cfg = json.loads((tmp/name/'config.json').read_text())
        assert cfg['model']['kind'] == kind and cfg['source']['config']['name'] == 'image_folder', cfg['model']
        assert cfg['learner']['loss'] == 'ce'
    assert json.loads((tmp/'folder_cnp'/'config.json').read_text())['source']['config']['rotations'] is True
    r = json.loads(_ok(res['folder_eval']))
    assert r['ways'] == 3 and r['tasks'] == 12 and sorted(r['steps']) == ['0', '1']
    assert all(0 <= v['acc'] <= 1 for v in r['steps'].values())


def test_clean_errors(runs):
    _, _, res = runs
    assert "unknown kernel 'rbff' (did you mean 'rbf'?)" in _error(res['gp_bad_kernel'], 'metamr_data')
    assert "family 'image_folder' needs --root" in _error(res['no_root'], 'metamr_train')
    assert 'nowhere does not exist; give the folder that holds the alphabet folders' in _error(res['missing_root'], 'metamr_data')
    assert "ways = 9 but split 'train' has only 6 classes" in _error(res['too_many_ways'], 'metamr_train')
    for name, prog in (('too_many_shots', 'metamr_train'), ('eval_too_many_shots', 'metamr_eval')):
        line = _error(res[name], prog)
        assert 'distinct drawings of each class are needed' in line and 'has only 4; use shots + queries <= 4' in line
