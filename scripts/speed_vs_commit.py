"""Training speed of the working tree against another commit, measured side by side (one process each, at once).

    python scripts/speed_vs_commit.py 6dbb5eb                     # the MAML sinusoid protocol, 70,000 steps each
    python scripts/speed_vs_commit.py HEAD~3 --steps 5000         # shorter

Both processes run the same `metamr_train` arguments on one thread each, at the same time, so machine load hits
both alike: the ratio is the number to read; absolute seconds depend on the machine. The other commit is checked out
in a temporary git worktree and imported from there by this interpreter (its folder first on PYTHONPATH). Prints each run's training seconds (as
`metamr_train` reports them), their ratio and each run's validation loss (they differ when a change alters the arithmetic, e.g. another optimiser kernel)."""
import argparse, json, os, re, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ['--algo', 'maml', '--shots', '10', '--inner-steps', '1', '--inner-lr', '0.01', '--outer-opt', 'adam',
            '--outer-lr', '0.001', '--meta-batch', '25', '--seed', '0', '--eval-every', '0', '--quiet', '--threads', '1']
# each process imports metamr_nb from its tree, put first on PYTHONPATH (checked: a tree without the package fails)
RUN = ("import sys, metamr_nb; assert metamr_nb.__file__.startswith(sys.argv[1]), metamr_nb.__file__; "
       "from metamr_nb.cli import train_main; train_main(sys.argv[2:])")


def tree_env(tree: Path) -> dict:
    "This environment with `tree` first on PYTHONPATH, so that a process started in it imports that tree's metamr_nb."
    pp = os.environ.get('PYTHONPATH')
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(tree), *([pp] if pp else [])])}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('commit', help='the commit to compare the working tree with')
    ap.add_argument('--steps', type=int, default=70000, help='meta-steps per run (default: 70000, the protocol)')
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp/'old'
        subprocess.run(['git', '-C', str(ROOT), 'worktree', 'add', '-q', '--detach', str(old), a.commit], check=True)
        try:
            jobs = {}
            for name, tree in (('working tree', ROOT), (a.commit, old)):
                cmd = [sys.executable, '-c', RUN, str(tree), *PROTOCOL, '--steps', str(a.steps), '--out', str(tmp/f'run_{len(jobs)}')]
                jobs[name] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=tree_env(tree))
            res = {}
            for name, p in jobs.items():
                out, err = p.communicate()
                if p.returncode: sys.exit(f'{name} failed:\n{err[-2000:]}')
                # metamr_train's own timing of its training loop: "trained ... in 206.2 s (340 steps/s); ..."
                res[name] = {'train_s': float(re.search(r' in ([0-9.]+) s ', out).group(1)), 'stdout': out.strip()}
        finally:
            subprocess.run(['git', '-C', str(ROOT), 'worktree', 'remove', '--force', str(old)], check=False)
    w, c = res['working tree']['train_s'], res[a.commit]['train_s']
    print(json.dumps({'steps': a.steps, 'runs': res, 'ratio_commit_over_working_tree': round(c/w, 3)}, indent=1))


if __name__ == '__main__':
    main()
