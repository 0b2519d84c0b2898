"""Build the docs site and README.md from the notebooks, offline.

    python scripts/docs.py site            # _docs/: Quarto (nbdev_docs) where `quarto` is on PATH, else smalldocs
    python scripts/docs.py sidebar         # nbs/sidebar.yml only (what `site` writes first; for a hand-run Quarto)
    python scripts/docs.py readme          # README.md from nbs/index.ipynb
    python scripts/docs.py readme --check  # exit 1 if README.md is stale
    python scripts/docs.py readme --stdout # print what README.md should hold

Run from anywhere; it works on the project that holds this file (or --root). One project per process:
nbdev's config is read from the current directory and cached."""
import argparse, html, json, os, re, shutil, subprocess, sys, tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
# smalldocs warnings that are expected for an nbdev project and say nothing about the pages
_QUIET = (re.compile(r'format commonmark is not built'), re.compile(r'keep-md is ignored'),
          re.compile(r'output-file is not read by smalldocs'))  # the output-file one: NbdevSite reads it


def _own_package(root: Path, argv: list):
    """Make this process document `root`'s own `metamr_nb`: if another one would be imported (the one installed in the
    venv, when `root` is a copy), run this command again with `root` first on PYTHONPATH (sys.path is left alone)."""
    import importlib.util
    spec = importlib.util.find_spec('metamr_nb')
    if spec and spec.origin and Path(spec.origin).resolve().is_relative_to(root): return
    if os.environ.get('METAMR_DOCS_REEXEC') == str(root): return  # already restarted: root holds no package to prefer
    pp = os.environ.get('PYTHONPATH')
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(root), *([pp] if pp else [])]), 'METAMR_DOCS_REEXEC': str(root)}
    sys.stdout.flush(); sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)


def _use(root: Path):
    "Work on `root`: its config, and its own `metamr_nb` for subprocesses and workers (on their PYTHONPATH)."
    os.chdir(root)
    pp = os.environ.get('PYTHONPATH', '')
    if not pp.startswith(str(root) + os.pathsep) and pp != str(root):
        os.environ['PYTHONPATH'] = str(root) + (os.pathsep + pp if pp else '')
    from nbdev.config import get_config
    get_config.cache_clear()
    return get_config()


def _doc_url(cfg) -> str:
    "Where the published site lives, such as `https://metamr-nb.github.io/metamr_nb/`."
    return cfg.get('doc_host', '').rstrip('/') + '/' + cfg.get('doc_baseurl', '').strip('/') + '/'


def _process(root: Path, n_workers: int = 0) -> Path:
    "What `nbdev_proc_nbs` does, minus its Quarto download: nbdev.yml, _modidx.py, sidebar.yml, then `_proc/`."
    cfg = _use(root)
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.serve import proc_nbs
    refresh_quarto_yml()
    _refresh_modidx(cfg)
    write_sidebar(root)
    _link_public_names_only()
    try: cache = proc_nbs(force=True, n_workers=n_workers)
    except Exception as e:  # nbdev runs exported and import cells to render show_doc; say which cell failed, briefly
        cause = f'\n  caused by {type(e.__cause__).__name__}: {e.__cause__}' if e.__cause__ else ''
        raise SystemExit(f'docs: processing the notebooks failed: {e}{cause}\n(nbdev runs every exported cell and '
                         'every cell with an import to render show_doc: keep imports in cells of their own)') from e
    _local_links(cache, _doc_url(cfg))
    return cache


# The sidebar, and so each page's previous/next links: the home page ("start here"), the lessons in the order of the
# number in their titles, the library's notebooks, the reports, the studies. nbdev's own `nbdev_sidebar` lists every folder
# alphabetically (Lesson 1 after Lesson 3), so settings.ini says `custom_sidebar = True` and this writes sidebar.yml.
SECTIONS = {'tutorials': 'Lessons', 'studies': 'Studies'}  # folder under nbs/ -> its section's title
_LESSON = re.compile(r'^#\s+Lesson\s+(\d+)\s*:', re.M)


def _link_public_names_only():
    """nbdev links every backticked name that `_modidx.py` knows, private helpers (`_vmap_step`) included, but show_doc
    gives only public names a heading: such a link points at an anchor that no page has. Leave `_names` as code."""
    import nbdev.doclinks as dl
    if getattr(dl.NbdevLookup._link_sym, 'public_only', False): return
    link = dl.NbdevLookup._link_sym
    def public_only(self, m): return m.group(0) if m.group(1).split('.')[-1].startswith('_') else link(self, m)
    public_only.public_only = True
    dl.NbdevLookup._link_sym = public_only


def _first_cells(nb: Path) -> tuple[str, str]:
    "A notebook's first markdown cell (its `# title`) and all its code, as text."
    cells = json.loads(nb.read_text(encoding='utf-8')).get('cells', [])
    src = lambda c: ''.join(c.get('source', ''))
    title = next((src(c) for c in cells if c.get('cell_type') == 'markdown'), '')
    return title, '\n'.join(src(c) for c in cells if c.get('cell_type') == 'code')


def lesson_number(nb: Path):
    "The N of a notebook titled `# Lesson N: ...`, else None."
    m = _LESSON.search(_first_cells(nb)[0])
    return int(m.group(1)) if m else None


def _is_report(nb: Path) -> bool:
    "A notebook of nbs/ itself that exports no module (no `#| default_exp`): a report, such as 07a_fidelity."
    return nb.name != 'index.ipynb' and not re.search(r'^#\|\s*default_exp\b', _first_cells(nb)[1], re.M)


def sidebar(root: Path = ROOT) -> dict:
    """The contents of nbs/sidebar.yml: the same notebooks as nbdev's `nbdev_sidebar` lists (none under a folder or
    file starting with `_` or `.`), arranged as a course: `index` (start here); the section *Lessons* (nbs/tutorials/)
    ordered by the N of each `# Lesson N:` title (any other page after them, by name); *Library*: the notebooks of nbs/
    that export a module, by name (their number is their reading order); *Reports* (notebooks of nbs/ that export no module); *Studies*
    (nbs/studies/, by name); then any other folder as a section of its own, by name."""
    nbs = (Path(root)/'nbs').resolve()
    found = sorted(p.relative_to(nbs) for p in nbs.rglob('*.ipynb')
                   if not any(s.startswith(('_', '.')) for s in p.relative_to(nbs).parts))
    top = [p for p in found if len(p.parts) == 1]
    top.sort(key=lambda p: (p.name != 'index.ipynb', p.name))
    folders = {}
    for p in found:
        if len(p.parts) > 1: folders.setdefault(p.parts[0], []).append(p)
    def section(title, pages): return [{'section': title, 'contents': [p.as_posix() for p in pages]}] if pages else []
    def by_lesson(p):
        n = lesson_number(nbs/p)
        return (n is None, n or 0, p.as_posix())
    contents = [p.as_posix() for p in top if p.name == 'index.ipynb']
    contents += section(SECTIONS['tutorials'], sorted(folders.pop('tutorials', []), key=by_lesson))
    contents += section('Library', [p for p in top if p.name != 'index.ipynb' and not _is_report(nbs/p)])
    contents += section('Reports', [p for p in top if _is_report(nbs/p)])
    contents += section(SECTIONS['studies'], folders.pop('studies', []))
    for name, pages in sorted(folders.items()): contents += section(SECTIONS.get(name, name), pages)
    return {'website': {'sidebar': {'contents': contents}}}


def write_sidebar(root: Path = ROOT) -> Path:
    "Write nbs/sidebar.yml (git-ignored; `_quarto.yml` reads it as a metadata file) from `sidebar(root)`."
    import yaml
    from nbdev.quarto import IndentDumper
    out = Path(root)/'nbs'/'sidebar.yml'
    out.write_text(yaml.dump(sidebar(root), Dumper=IndentDumper, sort_keys=False), encoding='utf-8')
    return out


def _refresh_modidx(cfg):
    """What nbdev's `_build_modidx` does (the index behind doc links and (c) of tests/test_docs.py), built in a scratch
    folder and written to the library only when it differs, so a docs build leaves an exported library untouched."""
    import nbdev.doclinks
    lib, nbs = Path(cfg.lib_path), Path(cfg.nbs_path).resolve()
    if not lib.is_dir(): return
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)/lib.name
        shutil.copytree(lib, t, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
        (Path(tmp)/os.path.relpath(nbs, lib.parent)).parent.mkdir(parents=True, exist_ok=True)
        (Path(tmp)/os.path.relpath(nbs, lib.parent)).symlink_to(nbs)  # `# %% ../nbs/x.ipynb` resolves to the real one
        nbdev.doclinks._build_modidx(dest=t, nbs_path=nbs)
        new = (t/'_modidx.py').read_text(encoding='utf-8')
    idx = lib/'_modidx.py'
    if not idx.exists() or idx.read_text(encoding='utf-8') != new:
        idx.write_text(new, encoding='utf-8')
        print(f'docs: {idx} was out of date and is rewritten (run nbdev_export and commit it)', file=sys.stderr)


def _local_links(cache: Path, url: str):
    """nbdev links a name in backticks to the *published* site (`https://host/base/tasks.html#task`). Make those links
    root-relative (`/tasks.html#task`) in the processed notebooks, so the offline site links to its own pages."""
    if not url.startswith('http'): return
    pat = re.compile(r'\]\(' + re.escape(url))
    def fix(s):
        if isinstance(s, list): return [fix(o) for o in s]
        return pat.sub('](/', s) if isinstance(s, str) else s
    for f in cache.rglob('*.ipynb'):
        if '_docs' in f.relative_to(cache).parts: continue
        nb = json.loads(f.read_text(encoding='utf-8'))
        for c in nb.get('cells', []):
            if c.get('cell_type') == 'markdown': c['source'] = fix(c['source'])
            for o in c.get('outputs', []):
                d = o.get('data') or {}
                if 'text/markdown' in d: d['text/markdown'] = fix(d['text/markdown'])
        f.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')


def _nbdev_site_class():
    "smalldocs's `Site`, taught nbdev's `output-file`: Quarto writes `00_tasks.ipynb` to `tasks.html`, so must we."
    from smalldocs.site import Site
    for m in ('read', 'find_page', 'build'):
        if not callable(getattr(Site, m, None)):
            raise SystemExit(f'smalldocs.site.Site has no {m}(); scripts/docs.py was written for smalldocs 0.5.x')

    class NbdevSite(Site):
        def read(self, src):
            page = super().read(src)
            of = page.front.get('output-file')
            if isinstance(of, str) and of.strip():
                page.out = PurePosixPath(src.parent, of.strip())
            clash = next((p.src for p in self.pages.values() if p.out == page.out and p.src != src), None)
            if clash: raise SystemExit(f'{src} and {clash} are both written to {page.out}: rename one notebook')
            return page

        def find_page(self, target):
            found = super().find_page(target)
            if found is None and target.suffix == '.html':  # a link to the output name: `tasks.html`
                found = next((p for p in self.pages.values() if p.out == target), None)
            return found
    return NbdevSite


def _render_smalldocs(cache: Path, strict: bool = False) -> Path:
    "Render the processed notebooks in `cache` with smalldocs into `cache/_docs`; print (`strict`: fail on) its warnings."
    from smalldocs.config import load, BuildError, ConfigError
    try:
        site = _nbdev_site_class()(load(cache), quiet=True)
        n = site.build()
    except (BuildError, ConfigError) as e:
        raise SystemExit(f'smalldocs: {e}')
    warns = [w for w in site.warnings if not any(p.search(w) for p in _QUIET)]
    for w in warns: print(f'warning: {w}', file=sys.stderr)
    print(f'smalldocs: {n} page(s), {len(warns)} warning(s)', file=sys.stderr)
    if strict and warns: raise SystemExit('docs: --strict and smalldocs warned (broken links?); see above')
    return site.out


_MATH = re.compile(r'<span class="math (inline|display)">\\[\(\[](.*?)\\[\)\]]</span>', re.S)
_REMOTE_TAG = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="https?://[^"]*"[^>]*>(?:\s*</script>)?')
_KATEX_INIT = re.compile(r'<script\b[^>]*>[^<]*renderMathInElement[^<]*</script>')
_REMOTE_IMPORT = re.compile(r'@import\s+url\(\s*["\']?https?://[^)]*\)\s*;?')


def offline(site: Path) -> dict:
    """Make a built site complete offline: maths as MathML, rendered by the browser itself (latex2mathml, at build time,
    instead of KaTeX's script, stylesheet and fonts from a CDN), and no script, stylesheet or font from another host
    (the theme's web-font import is dropped: its font stack falls back to the system's fonts). Returns what it changed."""
    from latex2mathml.converter import convert
    counts = {'formulas': 0, 'remote tags': 0, 'remote imports': 0}
    def math(m):
        counts['formulas'] += 1
        tex = html.unescape(m.group(2))
        return f'<span class="math {m.group(1)}">{convert(tex, display="block" if m.group(1) == "display" else "inline")}</span>'
    for f in site.rglob('*.html'):
        s = f.read_text()
        t = _MATH.sub(math, s)
        t, k = _REMOTE_TAG.subn('', t); counts['remote tags'] += k
        t = _KATEX_INIT.sub('', t)
        if t != s: f.write_text(t)
    for f in site.rglob('*.css'):
        s = f.read_text()
        t, k = _REMOTE_IMPORT.subn('', s); counts['remote imports'] += k
        if t != s: f.write_text(t)
    return counts


def build_site(root: Path = ROOT, n_workers: int = 0, strict: bool = False) -> Path:
    "Render the site into `root/_docs` and return that folder; `strict`: fail on smalldocs warnings (broken links)."
    root = Path(root).resolve()
    if shutil.which('quarto'):
        _use(root)  # PYTHONPATH: nbdev_docs documents this project's own metamr_nb
        write_sidebar(root)  # custom_sidebar = True: nbdev_docs leaves it as it is
        readme = root/'README.md'
        keep = readme.read_bytes() if readme.exists() else None
        try: subprocess.run(['nbdev_docs'], cwd=root, check=True)
        finally:  # nbdev_docs rewrites README.md with Quarto's gfm; README.md is `readme`'s job
            if keep is not None: readme.write_bytes(keep)
        return root/'_docs'
    cache = _process(root, n_workers=n_workers)
    out = _render_smalldocs(cache, strict=strict)
    done = offline(out)
    print(f"offline: {done['formulas']} formulas as MathML, {done['remote tags']} remote script/stylesheet tags and "
          f"{done['remote imports']} remote @imports removed", file=sys.stderr)
    dest = root/'_docs'
    shutil.rmtree(dest, ignore_errors=True)
    shutil.move(str(out), str(dest))
    return dest


def _front_matter(src: str) -> dict:
    m = re.match(r'^---\s*\n(.*?)\n---\s*$', src.strip(), re.S)
    if not m: return {}
    import yaml
    return yaml.safe_load(m.group(1)) or {}


def page_of(link: str) -> str:
    "The site page of a relative link: a notebook's is nbdev's output name (`tutorials/01_x.ipynb` -> `tutorials/x.html`)."
    p = PurePosixPath(link)
    if p.suffix != '.ipynb': return link
    return str(p.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', p.name.lower())).with_suffix('.html'))


def readme_text(root: Path = ROOT) -> str:
    """README.md's text, made from `nbs/index.ipynb` (settings.ini `readme_nb`) processed as for the site:
    its `# title` and `> description` become the first lines, then its cells as Markdown (nbconvert). Relative links
    to notebooks (`00_tasks.ipynb`) and to site pages (`tasks.html`) become links to their page on the published site,
    so they work on GitHub and PyPI."""
    cfg = _use(Path(root).resolve())
    from execnb.nbio import read_nb, write_nb
    from nbdev.processors import FilterDefaults
    from nbconvert import MarkdownExporter
    import nbformat
    src = cfg.nbs_path/cfg.get('readme_nb', 'index.ipynb')
    nb = read_nb(src)
    was = os.environ.get('IN_TEST')
    os.environ['IN_TEST'] = '1'  # as nbdev's docs processing does
    try: FilterDefaults()(nb)
    finally:
        if was is None: del os.environ['IN_TEST']
        else: os.environ['IN_TEST'] = was
    with tempfile.TemporaryDirectory() as tmp:  # back to plain JSON for nbconvert
        write_nb(nb, Path(tmp)/'readme.ipynb')
        nb = nbformat.reads((Path(tmp)/'readme.ipynb').read_text(encoding='utf-8'), as_version=4)
    for i, c in enumerate(nb.cells):  # a cell with `#| echo: false` shows only its output (a table made from results)
        if c.cell_type == 'code' and c.source.lstrip().startswith('#| echo: false'):
            md = ''.join(o.get('data', {}).get('text/markdown', '') for o in c.get('outputs', []))
            nb.cells[i] = nbformat.v4.new_markdown_cell(md)
    cells = nb.cells
    fm = _front_matter(cells[0].source) if cells and cells[0].cell_type == 'raw' else {}
    if fm: cells = cells[1:]
    warn = '<!-- WARNING: THIS FILE WAS AUTOGENERATED! DO NOT EDIT! -->'
    nb.cells = [c for c in cells if not (c.cell_type == 'markdown' and c.source.strip() == warn)]
    body, _ = MarkdownExporter().from_notebook_node(nb)
    url = _doc_url(cfg)
    if url.startswith('http'):
        body = re.sub(r'\]\((?![a-zA-Z][\w+.-]*:|[#/])([^)\s#]+?\.(?:html|ipynb))(#[^)\s]*)?\)',
                      lambda m: f']({url}{page_of(m.group(1))}{m.group(2) or ""})', body)
    body = re.sub(r'[ \t]+\n', '\n', body)
    body = re.sub(r'\n{3,}', '\n\n', body).strip()
    head = [f"# {fm.get('title') or cfg.get('title') or cfg.get('lib_name')}"]
    desc = fm.get('description') or cfg.get('description')
    if desc: head.append(f'> {" ".join(str(desc).split())}')
    foot = (f'<!-- Made from nbs/{cfg.get("readme_nb", "index.ipynb")} by `make readme` (scripts/docs.py): '
            'edit the notebook, not this file. -->')
    return '\n\n'.join(head + [body, foot]) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=['site', 'readme', 'sidebar'])
    p.add_argument('--root', default=str(ROOT), help='project folder (default: this repository)')
    p.add_argument('--check', action='store_true', help='readme: fail if README.md differs instead of writing it')
    p.add_argument('--stdout', action='store_true', help='readme: print the text instead of writing README.md')
    p.add_argument('--strict', action='store_true', help='site: fail on any smalldocs warning, such as a broken link')
    p.add_argument('--workers', type=int, default=0, help='site: processes for the notebook processing (0: in this one)')
    argv = sys.argv[1:] if argv is None else list(argv)
    a = p.parse_args(argv)
    root = Path(a.root).resolve()
    _own_package(root, argv)
    if a.what == 'sidebar':
        print(f'wrote {write_sidebar(root)}')
        return 0
    if a.what == 'site':
        out = build_site(root, n_workers=a.workers, strict=a.strict)
        print(f'docs site: {out} ({sum(1 for _ in out.rglob("*.html"))} pages)')
        return 0
    text = readme_text(root)
    readme = root/'README.md'
    if a.stdout:
        sys.stdout.write(text)
        return 0
    if a.check:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            print('README.md is stale: it must be made from nbs/index.ipynb. Run `make readme` and commit it.')
            return 1
        print('README.md is up to date with nbs/index.ipynb')
        return 0
    readme.write_text(text, encoding='utf-8')
    print(f'wrote {readme}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
