"""Re-execute notebooks in place and keep their outputs, so the docs site shows their figures without a kernel.

    python scripts/run_nbs.py                          # every notebook under nbs/ (skips names starting with _ or .)
    python scripts/run_nbs.py nbs/00_tasks.ipynb ...   # just these (files or folders)

Each notebook runs in a fresh Jupyter kernel (nbclient) started from this interpreter, in the notebook's own folder,
with this project first on PYTHONPATH. Figures are saved as inline PNGs even where the caller exports
MPLBACKEND=Agg (as scripts/test.sh does): the kernel gets matplotlib's inline backend. A notebook that raises stops
the run with exit code 1 and is left as it was; so is one that someone edited while it ran. `make nbs` runs this
and then `nbdev_clean`."""
import argparse, os, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INLINE = 'module://matplotlib_inline.backend_inline'


def find_nbs(paths=None, nbs: Path = ROOT/'nbs') -> list[Path]:
    "The notebooks to run: `paths` (files, or folders searched recursively), by default every notebook under `nbs`."
    def skip(p: Path, base: Path): return any(part.startswith(('_', '.')) for part in p.relative_to(base).parts)
    out = []
    for a in (paths or [nbs]):
        p = Path(a).resolve()
        if p.is_dir(): out += sorted(f for f in p.rglob('*.ipynb') if not skip(f, p))
        elif p.suffix == '.ipynb' and p.is_file(): out.append(p)
        else: raise SystemExit(f'run_nbs: {a} is not a notebook or a folder')
    return list(dict.fromkeys(out))


def kernel_env() -> dict:
    "The environment a notebook runs in: inline PNG figures, this project importable, this venv's tools on PATH."
    env = dict(os.environ)
    env['MPLBACKEND'] = INLINE
    env['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    env.setdefault('PYTHONHASHSEED', '0')
    env.setdefault('OMP_NUM_THREADS', '1')  # as make lab and make test run them: one torch thread (03_models)
    return env


def run_nb(path: Path, timeout: int = 600) -> float:
    "Execute `path` in its folder and write it back with its outputs; return the seconds it took. Raises on error."
    import nbformat
    from nbclient import NotebookClient
    from nbformat.warnings import MissingIDFieldWarning
    path = Path(path).resolve()
    before = path.stat().st_mtime_ns
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', MissingIDFieldWarning)
        nb = nbformat.read(path, as_version=4)
    kernel = (nb.metadata.get('kernelspec') or {}).get('name') or 'python3'
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=False,
                            resources={'metadata': {'path': str(path.parent)}})
    t0 = time.perf_counter()
    client.execute(cwd=str(path.parent), env=kernel_env())
    took = time.perf_counter() - t0
    if path.stat().st_mtime_ns != before:
        raise RuntimeError(f'{path} changed on disk while it ran; its outputs were not saved (run it again)')
    with warnings.catch_warnings():  # settings.ini clean_ids: the notebooks keep no cell ids, on purpose
        warnings.simplefilter('ignore', MissingIDFieldWarning)
        nbformat.write(nb, path)
    return took


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('nbs', nargs='*', help='notebooks or folders (default: nbs/)')
    p.add_argument('--timeout', type=int, default=600, help='seconds one cell may take (default 600)')
    p.add_argument('--keep-going', action='store_true', help='run the other notebooks after a failure (still exit 1)')
    a = p.parse_args(argv)
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    nbs = find_nbs(a.nbs)
    if not nbs: raise SystemExit('run_nbs: no notebook to run')
    failed = []
    for nb in nbs:
        name = os.path.relpath(nb)
        print(f'run_nbs: {name} ...', flush=True)
        try: took = run_nb(nb, a.timeout)
        except (CellExecutionError, CellTimeoutError, RuntimeError) as e:
            print(f'\nrun_nbs: FAILED {name} (left unchanged):\n{e}\n', file=sys.stderr, flush=True)
            failed.append(name)
            if not a.keep_going: break
            continue
        print(f'run_nbs: {name} ok in {took:.1f}s', flush=True)
    if failed:
        print(f'run_nbs: {len(failed)} notebook(s) failed: {", ".join(failed)}', file=sys.stderr)
        return 1
    print(f'run_nbs: {len(nbs)} notebook(s) executed and saved; run nbdev_clean before committing')
    return 0


if __name__ == '__main__':
    sys.exit(main())
