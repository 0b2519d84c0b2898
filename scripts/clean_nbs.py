"""The clean step: nbdev_clean, then strip saved widget state from every notebook, and report the notebooks' size.

    python scripts/clean_nbs.py            # what `make clean-nbs` runs; scripts/test.sh checks it changes nothing
    python scripts/clean_nbs.py --check    # change nothing; exit 1 naming each notebook that still holds widget state
    python scripts/clean_nbs.py nbs/09b_sinusoid_app.ipynb   # just these notebooks

nbdev_clean keeps a notebook's `widgets` metadata (the saved state of every widget model, hundreds of kB for a lesson
that was run), which only replays a dead kernel's widgets. So after nbdev_clean this removes that metadata, and from
each output the widget-view reference that pointed into it: the output keeps its static fallback (the figure as a PNG,
the text), which is what the docs site and a fresh JupyterLab show until the lesson is run again."""
import argparse, json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIEW = 'application/vnd.jupyter.widget-view+json'


def widget_state(nb: dict) -> list:
    "What in `nb` is saved widget state: 'metadata' and/or the indices of cells whose outputs reference widget models."
    found = ['metadata'] if 'widgets' in nb.get('metadata', {}) else []
    return found + [i for i, c in enumerate(nb['cells']) if any(VIEW in o.get('data', {}) for o in c.get('outputs', []))]


def strip(nb: dict) -> dict:
    nb.get('metadata', {}).pop('widgets', None)
    for c in nb['cells']:
        for o in c.get('outputs', []):
            d = o.get('data', {})
            d.pop(VIEW, None)
            if not d and o.get('output_type') in ('display_data', 'execute_result'): d['text/plain'] = ''
    return nb


def notebooks(paths=None):
    if paths: return [Path(p).resolve() for p in paths]
    return sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)


def nbdev_clean(paths):
    "nbdev_clean on `paths` (all notebooks when empty): it writes each notebook in its canonical form."
    exe = str(Path(sys.executable).parent/'nbdev_clean')
    for p in (paths or [None]): subprocess.run([exe] + (['--fname', str(p)] if p else []), cwd=ROOT, check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('notebooks', nargs='*', help='the notebooks to clean (default: every notebook under nbs/)')
    ap.add_argument('--check', action='store_true', help='change nothing; fail if a notebook holds widget state')
    a = ap.parse_args(argv)
    nbs = notebooks(a.notebooks)
    if a.check:
        bad = [(p, s) for p in nbs if (s := widget_state(json.loads(p.read_text())))]
        for p, s in bad: print(f"{p.relative_to(ROOT)} holds saved widget state ({', '.join(map(str, s))}); run make clean-nbs")
        return 1 if bad else 0
    before = sum(p.stat().st_size for p in nbs)
    nbdev_clean(a.notebooks)
    held = [p for p in nbs if widget_state(json.loads(p.read_text()))]
    for p in held: p.write_text(json.dumps(strip(json.loads(p.read_text())), indent=1, ensure_ascii=False) + '\n')
    if held: nbdev_clean(held)  # back to nbdev's own form, so that nbdev_clean afterwards changes nothing
    after = sum(p.stat().st_size for p in nbs)
    print(f"notebooks: {before/1e6:.2f} MB before, {after/1e6:.2f} MB after the clean step")
    return 0


if __name__ == '__main__':
    sys.exit(main())
