"""Bitwise behaviour check: the parameters that fixed-seed training runs end with, hashed, for the working tree and
(optionally) another commit, run on this machine side by side.

    python scripts/param_hashes.py                 # the working tree: one SHA-256 per run
    python scripts/param_hashes.py --against b446e3c   # and that commit; exits 1 if any run's parameters differ

Each run is `metamr_train` with a fixed seed, one thread and a few hundred meta-steps (MAML, first-order MAML,
Reptile and the set encoder on sinusoids, each map execution, and a shape-image run); the hash covers the model's
parameters and the outer optimiser's state in the final checkpoint. Float results depend on the CPU's vector
instructions, so hashes are compared between commits on one machine, never with numbers typed in elsewhere. The other
commit is checked out in a temporary git worktree and imported from there (PYTHONPATH), the working tree likewise."""
import argparse, hashlib, json, os, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMON = ['--seed', '0', '--threads', '1', '--quiet', '--eval-every', '0', '--meta-batch', '5']
RUNS = {  # name -> metamr_train arguments
    'maml_batched': ['--algo', 'maml', '--init', 'maml', '--steps', '300', '--execution', 'batched'],
    'maml_vmap': ['--algo', 'maml', '--steps', '300', '--execution', 'vmap'],
    'maml_loop': ['--algo', 'maml', '--steps', '100', '--execution', 'loop'],
    'fomaml': ['--algo', 'fomaml', '--inner-steps', '3', '--steps', '300'],
    'reptile_adam': ['--algo', 'reptile', '--steps', '300'],
    'reptile_sgd': ['--algo', 'reptile', '--outer-opt', 'sgd', '--outer-lr', '1.0', '--steps', '300', '--execution', 'loop'],
    'cnp': ['--algo', 'cnp', '--widths', '32,32', '--steps', '300'],
    'shape_kinds_maml': ['--family', 'shape_kinds', '--ways', '3', '--shots', '2', '--queries', '2', '--hidden', '8',
                         '--image-size', '16', '--steps', '20'],
}
TRAIN = "from metamr_nb.cli import train_main; train_main()"


def digest(path):
    import torch
    ck = torch.load(Path(path)/'checkpoint.pt', weights_only=True)['learner']
    h = hashlib.sha256()
    def feed(prefix, obj):
        if isinstance(obj, dict):
            for k in sorted(obj, key=str): feed(f'{prefix}.{k}', obj[k])
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj): feed(f'{prefix}[{i}]', v)
        elif isinstance(obj, torch.Tensor):
            h.update(prefix.encode()); h.update(obj.detach().contiguous().cpu().numpy().tobytes())
        else: h.update(f'{prefix}={obj!r}'.encode())
    feed('model', ck['model']); feed('opt', ck['opt'].get('state', {}))
    return h.hexdigest()


def hashes(tree, tmp, only):
    "Train every run with the package in `tree`; name -> parameter hash."
    env = {**os.environ, 'PYTHONPATH': str(tree)}
    def one(name):
        out = Path(tmp)/name
        p = subprocess.run([sys.executable, '-c', TRAIN, *RUNS[name], *COMMON, '--out', str(out)], env=env,
                           capture_output=True, text=True, timeout=1800)
        if p.returncode: raise SystemExit(f'{name} in {tree} failed:\n{p.stderr[-2000:]}')
        return name, digest(out)
    with ThreadPoolExecutor(2) as ex: return dict(ex.map(one, only))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--against', metavar='COMMIT', help='also train with this commit and compare the hashes')
    ap.add_argument('--runs', default=','.join(RUNS), help='which runs (default: all)')
    a = ap.parse_args(argv)
    only = [r for r in a.runs.split(',') if r]
    bad = [r for r in only if r not in RUNS]
    if bad: ap.error(f"unknown run {bad[0]!r}; valid: {', '.join(RUNS)}")
    with tempfile.TemporaryDirectory() as tmp:
        res = {'working tree': hashes(ROOT, Path(tmp)/'wt', only)}
        if a.against:
            old = Path(tmp)/'old'
            subprocess.run(['git', '-C', str(ROOT), 'worktree', 'add', '-q', '--detach', str(old), a.against], check=True)
            try: res[a.against] = hashes(old, Path(tmp)/'old_runs', only)
            finally: subprocess.run(['git', '-C', str(ROOT), 'worktree', 'remove', '--force', str(old)], check=False)
    for name in only:
        line = f"{name:18} {res['working tree'][name][:16]}"
        if a.against: line += f"  {a.against}: {res[a.against][name][:16]}  {'same' if res[a.against][name] == res['working tree'][name] else 'DIFFERENT'}"
        print(line)
    if a.against:
        same = sum(res[a.against][n] == res['working tree'][n] for n in only)
        print(f"{same} of {len(only)} runs end with bitwise the same parameters and optimiser state")
        return 0 if same == len(only) else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
