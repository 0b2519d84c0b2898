"""Build the docs site and README.md from the notebooks, offline.

    python scripts/docs.py site            # _docs/: Quarto (nbdev_docs) where `quarto` is on PATH, else smalldocs
    python scripts/docs.py readme          # README.md from nbs/index.ipynb
    python scripts/docs.py readme --check  # exit 1 if README.md is stale

Run from anywhere; it works on the project that holds this file (or --root)."""
import argparse, json, os, re, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _process(root: Path) -> Path:
    "What `nbdev_proc_nbs` does, minus its Quarto download: nbdev.yml, sidebar.yml, then `_proc/`."
    os.chdir(root)
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    from nbdev.serve import proc_nbs
    import nbdev.doclinks
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__()
    return proc_nbs(force=True, n_workers=0)


def build_site(root: Path = ROOT) -> Path:
    "Render the site into `root/_docs` and return that folder."
    root = Path(root).resolve()
    if shutil.which('quarto'):
        subprocess.run(['nbdev_docs'], cwd=root, check=True)
        return root/'_docs'
    cache = _process(root)
    out = cache/'_docs'
    shutil.rmtree(out, ignore_errors=True)
    smalldocs = Path(sys.executable).parent/'smalldocs'
    subprocess.run([str(smalldocs) if smalldocs.exists() else 'smalldocs', 'render', str(cache)], check=True)
    dest = root/'_docs'
    shutil.rmtree(dest, ignore_errors=True)
    shutil.move(str(out), str(dest))
    return dest


def _front_matter(src: str) -> dict:
    m = re.match(r'^---\s*\n(.*?)\n---\s*$', src.strip(), re.S)
    if not m: return {}
    import yaml
    return yaml.safe_load(m.group(1)) or {}


def readme_text(root: Path = ROOT) -> str:
    "README.md's text, made from the processed `nbs/index.ipynb` (its front matter becomes the title)."
    root = Path(root).resolve()
    if shutil.which('quarto'):
        subprocess.run(['nbdev_readme'], cwd=root, check=True)
        return (root/'README.md').read_text()
    cache = _process(root)
    nb = json.loads((cache/'index.ipynb').read_text())
    head = []
    if nb['cells'] and nb['cells'][0]['cell_type'] == 'raw':
        fm = _front_matter(''.join(nb['cells'][0]['source']))
        if fm:
            nb['cells'] = nb['cells'][1:]
            head = [f"# {fm.get('title', 'metamr_nb')}", '']
            if fm.get('description'): head += [f"> {fm['description']}", '']
    tmp = cache/'_readme.ipynb'
    tmp.write_text(json.dumps(nb))
    body = subprocess.run([sys.executable, '-m', 'jupyter', 'nbconvert', '--to', 'markdown', '--stdout', str(tmp)],
                          check=True, capture_output=True, text=True).stdout
    tmp.unlink()
    body = re.sub(r'\n{3,}', '\n\n', body).strip()
    return '\n'.join(head) + body + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=['site', 'readme'])
    p.add_argument('--root', default=str(ROOT), help='project folder (default: this repository)')
    p.add_argument('--check', action='store_true', help='readme: fail if README.md differs instead of writing it')
    a = p.parse_args(argv)
    root = Path(a.root).resolve()
    if a.what == 'site':
        out = build_site(root)
        print(f'docs site: {out} ({sum(1 for _ in out.rglob("*.html"))} pages)')
        return 0
    text = readme_text(root)
    readme = root/'README.md'
    if a.check:
        if not readme.exists() or readme.read_text() != text:
            print('README.md is stale: it must be made from nbs/index.ipynb. Run `make readme` and commit it.')
            return 1
        print('README.md is up to date with nbs/index.ipynb')
        return 0
    readme.write_text(text)
    print(f'wrote {readme}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
