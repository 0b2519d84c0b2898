"""The offline docs site (scripts/docs.py) and README.md.

The site is built once, in a copy of the project whose top-level `_quarto.yml` carries a unique page footer, plus
one small notebook in a subfolder with a figure, a picture file and a link (what any notebook may hold). Everything
else is the project as it is in the working tree: every notebook under nbs/ must process, every exported name must
have its API entry, every link must resolve."""
import ast, base64, json, os, posixpath, re, shutil, struct, subprocess, sys, uuid, zlib
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MARKER = f'footer-marker-{uuid.uuid4().hex}'
SELFTEST = Path('zz_docs_selftest')  # the extra notebook's folder, under nbs/ in the copy
COPY = ['settings.ini', 'setup.py', 'pyproject.toml', '_quarto.yml', 'README.md', 'nbs', 'metamr_nb', 'scripts']
IGNORE = shutil.ignore_patterns('_proc', '_docs', '.venv', '__pycache__', '.ipynb_checkpoints', 'nbdev.yml', 'sidebar.yml')


def _png(w=3, h=2, rgb=(200, 40, 40)) -> bytes:
    "A tiny valid PNG, without matplotlib."
    def chunk(kind, data): return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    raw = b''.join(b'\x00' + bytes(rgb) * w for _ in range(h))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def _selftest_nb(png: bytes) -> dict:
    "A notebook in a subfolder: a title, a link up to the home page, a picture file, and a stored PNG output."
    md = lambda s: {'cell_type': 'markdown', 'metadata': {}, 'source': s}
    return {'nbformat': 4, 'nbformat_minor': 5,
            'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
            'cells': [md('# Docs self-test\n\n> A page that tests/test_docs.py adds to its copy of the project.'),
                      md('Back to [the home page](../index.ipynb). A picture file: ![a dot](dot.png)'),
                      {'cell_type': 'code', 'execution_count': 1, 'metadata': {}, 'source': 'show_a_figure()',
                       'outputs': [{'output_type': 'display_data', 'metadata': {},
                                    'data': {'image/png': base64.b64encode(png).decode() + '\n',
                                             'text/plain': '<Figure size 3x2>'}}]}]}


def _copy_project(dest: Path):
    for name in COPY:
        src = ROOT/name
        if src.is_dir(): shutil.copytree(src, dest/name, symlinks=True, ignore=IGNORE)
        elif src.exists(): shutil.copy2(src, dest/name)
    qy = dest/'_quarto.yml'
    cfg = yaml.safe_load(qy.read_text())
    assert MARKER not in qy.read_text()
    cfg['website']['page-footer']['center'] = MARKER  # the one setting changed
    qy.write_text(yaml.safe_dump(cfg, sort_keys=False))
    link = dest/'nbs'/'_quarto.yml'
    assert link.is_symlink() and not os.path.isabs(os.readlink(link)), 'nbs/_quarto.yml must be a relative symlink'
    assert link.resolve() == qy.resolve()
    d = dest/'nbs'/SELFTEST
    d.mkdir()
    (d/'dot.png').write_bytes(_png(1, 1))
    (d/'figure_check.ipynb').write_text(json.dumps(_selftest_nb(_png())))


def _run(args, cwd, timeout=1200):  # only a hang reaches it: a busy machine builds the site in minutes
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'IN_TEST')}
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    r = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f'{" ".join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    return r


@pytest.fixture(scope='module')
def copy(tmp_path_factory):
    "The copy of the project (with the marker footer and the self-test notebook)."
    dest = tmp_path_factory.mktemp('docs')/'project'
    dest.mkdir()
    _copy_project(dest)
    return dest


@pytest.fixture(scope='module')
def project(copy):
    "The copy, with its site built into `_docs/` (once for this module)."
    r = _run(['scripts/docs.py', 'site'], cwd=copy)
    assert (copy/'_docs'/'index.html').is_file(), r.stdout + r.stderr
    return copy


def _nbs(project):
    "Every notebook nbdev renders: under nbs/, no part of its path starting with `_` or `.`."
    nbs = project/'nbs'
    return sorted(p for p in nbs.rglob('*.ipynb') if not any(s.startswith(('_', '.')) for s in p.relative_to(nbs).parts))


def _page(nb: Path, nbs: Path) -> Path:
    "Where nbdev (`output-file`) puts a notebook's page: `00_tasks.ipynb` -> `tasks.html`, in the same folder."
    rel = nb.relative_to(nbs)
    return rel.with_name(re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.name.lower())).with_suffix('.html')


def _html(project):
    return {p: p.read_text(encoding='utf-8') for p in sorted((project/'_docs').rglob('*.html'))}


def _directives(src: str) -> dict:
    out = {}
    for line in src.splitlines():
        m = re.match(r'\s*#\|\s*([\w-]+)\s*:?\s*(.*)', line)
        if m: out[m.group(1)] = m.group(2).strip().lower()
    return out


def test_top_level_quarto_yml_reaches_the_site(project):
    pages = _html(project)
    assert pages
    missing = [str(p.relative_to(project)) for p, h in pages.items()
               if not re.search(r'class="nav-footer-center">\s*' + re.escape(MARKER), h)]
    assert not missing, f'the page-footer of the top-level _quarto.yml (via nbs/_quarto.yml) is not on: {missing}'


def test_a_page_per_notebook_and_all_in_the_sidebar(project):
    nbs, docs = project/'nbs', project/'_docs'
    expected = [_page(nb, nbs) for nb in _nbs(project)]
    assert SELFTEST/'figure_check.html' in expected and Path('index.html') in expected
    missing = [str(p) for p in expected if not (docs/p).is_file()]
    assert not missing, f'notebooks without a page in _docs/: {missing}'
    index = (docs/'index.html').read_text(encoding='utf-8')
    sidebar = re.search(r'<nav id="quarto-sidebar".*?</nav>', index, re.S)
    assert sidebar, 'index.html has no sidebar'
    links = {Path(unquote(h)) for h in re.findall(r'href="([^"#]+)', sidebar.group(0))}
    assert not [str(p) for p in expected if p not in links], f'pages missing from the sidebar: {expected} vs {links}'


def _exported(project):
    "(module, name shown by show_doc, page) for every function and class nbdev documents on its own: `__all__`, patches."
    d = {}
    exec((project/'metamr_nb'/'_modidx.py').read_text(), d)
    syms = d['d']['syms']
    assert syms, '_modidx.py lists no module'
    from nbdev.doclinks import patch_name
    out = []
    for mod, entries in syms.items():
        tree = ast.parse((project/(mod.replace('.', '/') + '.py')).read_text())
        all_ = next((ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                     and any(getattr(t, 'id', None) == '__all__' for t in n.targets)), [])
        names = [n for n in all_ if f'{mod}.{n}' in entries]  # functions and classes (not constants)
        names += [patch_name(n) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and not n.name.startswith('_') and '.' in patch_name(n)]  # @patch-ed methods get their own entry
        for n in names:
            out.append((mod, n, entries[f'{mod}.{n}'][0].split('#')[0]))
    return out


def test_api_reference_of_every_exported_name(project):
    exported = _exported(project)
    assert exported, 'no exported function or class found'
    missing, shown = [], {}
    for mod, name, page in exported:
        if page not in shown:
            h = (project/'_docs'/page).read_text(encoding='utf-8') if (project/'_docs'/page).is_file() else ''
            # show_doc's Markdown output: `---`, a [source] link when nbdev finds the code, `### name`, signature, doc
            heads = [re.search(r'<h([2-4])\b[^>]*>(.*?)</h\1>', c[:2000], re.S)
                     for c in h.split('cell-output-markdown">')[1:] if c.lstrip().startswith('<hr')]
            shown[page] = {unescape(re.sub(r'<[^>]+>', '', m.group(2))).strip() for m in heads if m}
        if name not in shown[page]: missing.append(f'{mod}.{name} (on {page})')
    assert not missing, f'exported names without a show_doc heading in the site: {missing}'


def test_saved_figures_are_in_the_pages(project):
    nbs, docs = project/'nbs', project/'_docs'
    checked = 0
    for nb in _nbs(project):
        pngs = []
        for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
            if c['cell_type'] != 'code': continue
            d = _directives(''.join(c['source']))
            if 'hide' in d or d.get('include') == 'false' or d.get('output') == 'false': continue
            pngs += [''.join(o['data']['image/png']).strip() for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]
        if not pngs: continue
        h = (docs/_page(nb, nbs)).read_text(encoding='utf-8')
        imgs = re.findall(r'<img\b[^>]*\bsrc="data:image/png;base64,([^"]+)"', h)
        assert len(imgs) >= len(pngs), f'{nb.name}: {len(pngs)} PNG outputs, {len(imgs)} <img> in its page'
        lost = [i for i, p in enumerate(pngs) if not any(p[:200] == s[:200] for s in imgs)]
        assert not lost, f'{nb.name}: PNG outputs {lost} are not in its page'
        checked += 1
    assert checked >= 1, 'no notebook with a PNG output was checked (the self-test one should be)'
    selftest = (docs/SELFTEST/'figure_check.html').read_text(encoding='utf-8')
    assert re.search(r'<img\b[^>]*\bsrc="dot\.png"', selftest) and (docs/SELFTEST/'dot.png').is_file()




def _ids(page: Path, cache: dict) -> set:
    "The ids of the elements of a page (what a `#fragment` can land on)."
    if page not in cache: cache[page] = {unescape(i) for i in re.findall(r'\bid="([^"]*)"', page.read_text(encoding='utf-8'))}
    return cache[page]


def test_internal_links_and_anchors_resolve(project):
    "Every relative href/src names a file of the site, and every `#fragment` an element id of the page it points to."
    docs = project/'_docs'
    broken, anchors, n, n_frag, ids = [], set(), 0, 0, {}
    for page, h in _html(project).items():
        where = page.relative_to(docs).as_posix()
        for attr, url in re.findall(r'\b(href|src)="([^"]*)"', h):
            url = unescape(url)
            if not url or re.match(r'^(?:[a-zA-Z][\w+.-]*:|//)', url): continue
            path, _, frag = url.partition('#')
            path = unquote(path.split('?')[0])
            if path:
                n += 1
                target = (docs/path.lstrip('/')) if path.startswith('/') else (page.parent/path)
                if path.endswith('/'): target = target/'index.html'
                if not target.exists():
                    broken.append(f'{where}: {url}')
                    continue
            else: target = page
            if attr == 'href' and frag and target.suffix == '.html':
                n_frag += 1
                if unquote(frag) not in _ids(target, ids): anchors.add(f'{where}: {url}')
    assert n > 10 and n_frag > 10, f'only {n} relative links and {n_frag} anchors found'
    assert not broken, 'links to files that are not in the site:\n' + '\n'.join(sorted(set(broken)))
    assert not anchors, 'links to an anchor that no element of the target page has (`page: href`):\n' + '\n'.join(sorted(anchors))


def _sidebar(project, page='index.html') -> str:
    h = (project/'_docs'/page).read_text(encoding='utf-8')
    sb = re.search(r'<nav id="quarto-sidebar".*?</nav>', h, re.S)
    assert sb, f'{page} has no sidebar'
    return sb.group(0)


def _lessons(project) -> list:
    "The lesson notebooks (nbs/tutorials/), ordered by the N of their `# Lesson N:` titles; every one must have one."
    nbs, out = project/'nbs', []
    for nb in sorted((nbs/'tutorials').glob('*.ipynb')):
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        title = next(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown').splitlines()[0]
        m = re.match(r'# Lesson (\d+): \S', title)
        assert m, f'{nb.name}: a lesson\'s title reads `# Lesson N: ...`, not {title!r}'
        out.append((int(m.group(1)), _page(nb, nbs).as_posix()))
    out.sort()
    assert [k for k, _ in out] == list(range(1, len(out) + 1)), f'the lessons are not numbered 1..N once each: {out}'
    return [p for _, p in out]


def test_lessons_in_order_in_the_sidebar_and_previous_next(project):
    """The home page comes first, then Lesson 1..N in order (sidebar and each page's previous/next links); the studies
    and the reports have sections of their own."""
    lessons = _lessons(project)
    assert len(lessons) >= 6, lessons
    sb = _sidebar(project)
    hrefs = [unquote(h) for h in re.findall(r'href="([^"#]+)"', sb)]
    assert hrefs[0] == 'index.html', hrefs[:3]
    assert [h for h in hrefs if h.startswith('tutorials/')] == lessons, f'sidebar: {hrefs}'
    assert hrefs[1:1 + len(lessons)] == lessons, 'the lessons come right after the home page'
    titles = [unescape(re.sub(r'<[^>]+>', '', t)).strip() for t in re.findall(r'class="menu-text">(.*?)</span>', sb, re.S)]
    for section in ('Lessons', 'Reports', 'Studies'): assert section in titles, f'no {section!r} section in {titles}'
    for i, lesson in enumerate(lessons):
        h = (project/'_docs'/lesson).read_text(encoding='utf-8')
        nav = re.search(r'<nav class="page-navigation".*?</nav>', h, re.S)
        assert nav, f'{lesson}: no previous/next links (website: page-navigation in _quarto.yml)'
        prev = re.search(r'nav-page-previous.*?href="([^"]+)"', nav.group(0), re.S)
        nxt = re.search(r'nav-page-next.*?href="([^"]+)"', nav.group(0), re.S)
        want_prev = '../index.html' if i == 0 else '../' + lessons[i - 1]
        assert prev and posixpath.normpath(posixpath.join('tutorials', prev.group(1))) == posixpath.normpath(
            posixpath.join('tutorials', want_prev)), (lesson, nav.group(0)[:600])
        if i + 1 < len(lessons):
            assert nxt and posixpath.normpath(posixpath.join('tutorials', nxt.group(1))) == lessons[i + 1], (lesson, nav.group(0)[:600])


def test_links_between_notebooks_point_to_notebooks():
    "A link from one notebook to another names the `.ipynb` (it works in Lab and Voilà; the site makes it `.html`)."
    nbs, found = ROOT/'nbs', {}
    link = re.compile(r'\]\((?![a-zA-Z][\w+.-]*:|[#/])([^)\s#]+?\.html)(?:#[^)\s]*)?\)')
    for nb in _nbs(ROOT):
        for c in json.loads(nb.read_text(encoding='utf-8'))['cells']:
            texts = [''.join(c['source'])] + [''.join(o.get('data', {}).get('text/markdown', ''))
                                                for o in c.get('outputs', [])]
            for t in texts: found.setdefault(nb.relative_to(nbs).with_suffix('').as_posix(), set()).update(link.findall(t))
    found = {k: v for k, v in found.items() if v}
    found = {k: sorted(v) for k, v in found.items()}
    assert not found, f'links to `.html` pages from notebooks (link the `.ipynb` instead): {found}'


def test_readme_is_made_from_index(copy):
    text = _run(['scripts/docs.py', 'readme', '--stdout'], cwd=copy).stdout
    assert text.startswith('# metamr_nb\n\n> '), text[:300]
    first_block = re.search(r'```\w*\n(.*?)```', text, re.S)  # the two commands, before any section
    assert first_block and 'make lab' in first_block.group(1) and 'make test' in first_block.group(1), text[:600]
    assert first_block.start() < text.find('\n## '), 'the two commands must come before the first section'
    committed = (ROOT/'README.md').read_text(encoding='utf-8')
    if text != committed:
        import difflib
        diff = ''.join(difflib.unified_diff(committed.splitlines(True), text.splitlines(True), 'README.md', 'from index.ipynb', n=1))
        pytest.fail(f'README.md is stale: run `make readme` (scripts/docs.py readme) and commit it.\n{diff[:3000]}')


REMOTE = [re.compile(r'<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*"(?:https?:)?//[^"]+"', re.I),
          re.compile(r'@import\s+(?:url\()?\s*["\']?(?:https?:)?//', re.I),
          re.compile(r'url\(\s*["\']?(?:https?:)?//', re.I)]


def test_site_needs_no_other_host(project):
    "The built site loads no script, stylesheet, font or image from another host (links to other sites are fine)."
    found = []
    for f in sorted((project/'_docs').rglob('*')):
        if f.suffix not in ('.html', '.css', '.js'): continue
        text = f.read_text(encoding='utf-8', errors='replace')
        for rx in REMOTE: found += [f"{f.relative_to(project)}: {m.group(0)[:120]}" for m in rx.finditer(text)]
    assert not found, 'resources from other hosts:\n' + '\n'.join(found[:20])


def test_math_is_mathml_and_renders_in_chromium(project):
    "Maths is MathML in the page (no TeX left for a script to typeset), and Chromium lays it out: non-empty boxes."
    page = project/'_docs'/'distributed.html'
    text = page.read_text(encoding='utf-8')
    assert text.count('<math') >= 3 and '\\(' not in text and '\\[' not in text
    exe = '/usr/bin/chromium'
    if not Path(exe).exists(): pytest.skip(f'{exe} is missing (apt-get install chromium): the layout check needs it')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=['--no-sandbox'])
        try:
            pg = b.new_page()
            remote = []
            pg.on('request', lambda r: remote.append(r.url) if not r.url.startswith(('file:', 'data:', 'about:')) else None)
            pg.goto(page.as_uri())
            boxes = pg.eval_on_selector_all('math', 'ms => ms.map(m => [m.getBoundingClientRect().width, m.getBoundingClientRect().height])')
        finally: b.close()
    assert boxes and all(w > 0 and h > 0 for w, h in boxes), boxes
    assert not remote, remote
