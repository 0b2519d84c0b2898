"""The three lessons as a student uses them, in a real browser: JupyterLab and the standalone Voilà apps.

JupyterLab itself is started on 127.0.0.1 with a token (`--allow-root`, fresh settings and workspace folders, the
news popup off) and each lesson is opened in headless Chromium (Debian's `chromium`, driven by Python playwright
with `executable_path='/usr/bin/chromium'`; never `playwright install`). The test waits for `| Idle` in the status
bar, runs all cells through the menu command `runmenu:run-all`, moves sliders with the keyboard, clicks buttons, and
asserts that the outputs change: text inside `.widget-label` (the page text also holds the cells' sources) and the
`src` of the apps' images. A live training is started and stopped with Stop, which must end it within seconds. Then
the same apps are driven as Voilà pages (what `make app` serves). Every wait is for a condition, never a fixed sleep.

Screenshots go to tests/screenshots/ (git-ignored). The lessons run as a student runs them (IN_TEST is not set, so a
live training is long enough that Stop, not the end, finishes it). If /usr/bin/chromium is missing, the test
installs Debian's package when it runs as root (as CI does, where `make setup` already installed it); it skips, with
the reason, only when that is impossible."""
import json, os, re, secrets, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = '/usr/bin/chromium'
SHOTS = ROOT/'tests'/'screenshots'
LESSONS = ('sinusoid_adaptation', 'mapreduce_steps', 'shape_classification')
PAGES = ('why_batching', 'compare', 'compare_kinds', 'compare_shelf')  # lessons 3, 5, 6 and 8: prose, figures, tables
RUN_ALL_TIMEOUT = 300_000  # ms: a lesson runs in ~10-20 s on a quiet machine; only a hang takes 15x that
HANG = 300  # s: every other wait's limit, which only a hang reaches (a busy machine is slower, never asserted)


def _chromium() -> str:
    "The Debian Chromium binary, installed with apt-get if missing and possible; otherwise skip with the reason."
    if not os.path.exists(CHROMIUM) and hasattr(os, 'geteuid') and os.geteuid() == 0 and shutil.which('apt-get'):
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        for cmd in (['apt-get', 'update'], ['apt-get', 'install', '-y', 'chromium']):
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    if not os.path.exists(CHROMIUM):
        pytest.skip(f'{CHROMIUM} is missing and could not be installed (apt-get install chromium needs root and Debian); '
                    f'`make setup` installs it as root')
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc, timeout: float = 300):
    "Poll `url` until it answers 200 (the server is up); fail early with the server's log if it exits."
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None: pytest.fail(f'server exited with {proc.returncode}:\n{_log(proc)}')
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return
        except OSError: pass
        time.sleep(0.2)  # polling interval of a condition wait
    pytest.fail(f'server did not answer {url} within {timeout}s:\n{_log(proc)}')


def _log(proc) -> str:
    try: return Path(proc.args_log).read_text()[-4000:]
    except Exception: return '(no log)'


def _server_env(tmp: Path) -> dict:
    # (no MPLBACKEND: the kernels draw figures inline, as a student's do; make test exports Agg for its own processes)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('JUPYTER', 'PYTEST')) and k not in ('IN_TEST', 'MPLBACKEND')}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1',
               JUPYTER_CONFIG_DIR=str(tmp/'config'), JUPYTER_RUNTIME_DIR=str(tmp/'runtime'),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get('PATH', '')]))
    return env


def _start(cmd, tmp: Path, name: str, env: dict = None):
    log = tmp/f'{name}.log'
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**_server_env(tmp), **(env or {})}, stdout=open(log, 'w'), stderr=subprocess.STDOUT)
    proc.args_log = str(log)
    return proc


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(5)


def _lab_settings(d: Path):
    "JupyterLab user settings: no news or update check, no autosave, every notebook cell rendered (no windowing)."
    for plugin, values in {'@jupyterlab/apputils-extension/notification': {'fetchNews': 'false', 'checkForUpdates': False},
                           '@jupyterlab/docmanager-extension/plugin': {'autosave': False},
                           '@jupyterlab/notebook-extension/tracker': {'windowingMode': 'none'}}.items():
        f = d/f'{plugin}.jupyterlab-settings'
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))


@pytest.fixture(scope='module')
def browser():
    pw = pytest.importorskip('playwright.sync_api', reason='Python playwright is not installed (pip install playwright)')
    exe = _chromium()
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True,
                              args=['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
                                    '--disable-extensions', '--no-first-run', '--mute-audio'])
        yield b
        b.close()


@pytest.fixture(scope='module')
def tmp_dir():
    "A scratch folder with a copy of the three lessons under nbs/tutorials/: the servers never write into the repository."
    d = Path(tempfile.mkdtemp(prefix='metamr-browser-'))
    (d/'nbs'/'tutorials').mkdir(parents=True)
    for lesson in LESSONS + PAGES: shutil.copy2(ROOT/'nbs'/'tutorials'/f'{lesson}.ipynb', d/'nbs'/'tutorials')
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def lab(tmp_dir):
    "JupyterLab on (a copy of) the lessons, on 127.0.0.1 with a token; yields its base URL and token."
    port, token = _free_port(), secrets.token_hex(16)
    _lab_settings(tmp_dir/'settings')
    (tmp_dir/'workspaces').mkdir()
    proc = _start([sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', '--ServerApp.ip=127.0.0.1',
                   f'--ServerApp.port={port}', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={tmp_dir/"nbs"}',
                   f'--LabApp.user_settings_dir={tmp_dir/"settings"}', f'--LabApp.workspaces_dir={tmp_dir/"workspaces"}',
                   '--LabApp.news_url=', '--ServerApp.open_browser=False'], tmp_dir, 'lab')
    base = f'http://127.0.0.1:{port}'
    try:
        _wait_http(f'{base}/api/status?token={token}', proc)
        yield base, token
    finally: _stop(proc)


@pytest.fixture(scope='module')
def voila(tmp_dir):
    "Voilà serving (a copy of) the lessons on 127.0.0.1 with a token, as `make app` does; yields its base URL and token."
    port, token = _free_port(), secrets.token_hex(16)
    proc = _start([sys.executable, '-m', 'voila', str(tmp_dir/'nbs'/'tutorials'), '--no-browser', '--Voila.ip=127.0.0.1',
                   f'--Voila.port={port}', f'--Voila.token={token}', '--template=metamr', '--progressive_rendering=True'], tmp_dir, 'voila',
                  {'JUPYTER_PATH': str(ROOT/'share'/'jupyter')})
    base = f'http://127.0.0.1:{port}'
    try:
        _wait_http(f'{base}/?token={token}', proc)
        yield base, token
    finally: _stop(proc)


def _shutdown_kernels(base, token):
    "Shut down every kernel of the JupyterLab server (the next lesson gets the CPU to itself)."
    req = lambda path, method='GET': urllib.request.Request(f'{base}{path}', method=method, headers={'Authorization': f'token {token}'})
    with urllib.request.urlopen(req('/api/kernels')) as r: kernels = json.load(r)
    for k in kernels: urllib.request.urlopen(req(f"/api/kernels/{k['id']}", 'DELETE')).close()


# ---- finding and driving widgets (the same in JupyterLab and Voilà) -------------------------------------------------

def _label(page, pattern):
    "The `.widget-label` whose text matches `pattern` (the page text also holds cell sources: never search it all)."
    return page.locator('.widget-label').filter(has_text=re.compile(pattern)).first


def _text(loc) -> str: return loc.inner_text(timeout=HANG*1000).strip()


def _wait_text(loc, pred, what: str, timeout: float = HANG):
    "Wait until `pred(text)` holds for the locator's text; return the text."
    end, last = time.monotonic() + timeout, None
    while time.monotonic() < end:
        try: last = loc.inner_text(timeout=1_000).strip()
        except Exception: last = None
        if last is not None and pred(last): return last
        time.sleep(0.05)  # polling interval of a condition wait
    raise AssertionError(f'timed out after {timeout}s waiting for {what}; last text: {last!r}')


def _img(page, nth: int = 0):
    "The nth image widget (the apps' figures)."
    return page.locator('img.widget-image').nth(nth)


def _wait_src_change(img, before: str, what: str, timeout: float = HANG):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        src = img.get_attribute('src', timeout=5_000)
        if src and src != before: return src
        time.sleep(0.05)
    raise AssertionError(f'timed out after {timeout}s waiting for {what} to change')


def _slider_key(page, description: str, key: str = 'ArrowRight', times: int = 1):
    "Move the slider described `description` with the keyboard (focus its handle, press `key`)."
    slider = page.locator('.widget-slider').filter(has=page.locator('.widget-label', has_text=re.compile(f'^{re.escape(description)}$')))
    handle = slider.first.locator('.noUi-handle')
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(times): page.keyboard.press(key)


def _button(page, name: str):
    return page.locator('button.widget-button, button.widget-toggle-button').filter(has_text=re.compile(f'^\\s*{re.escape(name)}\\s*$')).first


def _live_train_and_stop(page, train_name: str, shot: str):
    "Start a live training, see it progress (status, loss curve), click Stop, and check it stops within seconds."
    status = _label(page, r'^(not training|stopped at|done:|training:|failed)')
    btn = page.locator('button.widget-button').filter(has_text=re.compile(r'retrain .* live')).first
    assert _text(btn).startswith(train_name), _text(btn)
    n_img = page.locator('img.widget-image').count()
    curve = _img(page, n_img - 1)  # the live loss curve is the last image of the app
    before = curve.get_attribute('src')
    btn.click()
    _wait_text(status, lambda t: t.startswith('training: step') and int(re.search(r'step (\d+)', t).group(1)) >= 20,
               'the live training to pass step 20', timeout=HANG)
    _wait_src_change(curve, before, 'the live loss curve', timeout=HANG)
    page.screenshot(path=str(SHOTS/f'{shot}_training.png'))
    stop = _button(page, 'Stop')
    assert stop.is_enabled()
    t0 = time.monotonic()
    stop.click()
    text = _wait_text(status, lambda t: t.startswith('stopped at step'), 'the training to stop', timeout=HANG)
    took = time.monotonic() - t0  # reported, never asserted: a busy machine may take longer; the step count below is the test
    print(f'{shot}: Stop ended the live training {took:.2f}s after the click ({text})')
    step = int(re.search(r'step (\d+)/(\d+)', text).group(1))
    assert step < int(re.search(r'step (\d+)/(\d+)', text).group(2))
    return took


def _click_points(page, score, img, src):
    "The lesson's gesture on the first panel: a click adds a support point, a drag moves it, a click on it removes it."
    points = _label(page, r'^support: \d+ points?,')
    assert _text(points).startswith('support: 10 points, sampled'), _text(points)
    img.scroll_into_view_if_needed()
    box = img.bounding_box()
    at = lambda fx, fy: (box['x'] + fx*box['width'], box['y'] + fy*box['height'])  # fractions of the picture
    s0 = _text(score)
    page.mouse.click(*at(0.15, 0.2))  # high above the wave (A = 3.2): empty space
    _wait_text(points, lambda t: t.startswith('support: 11 points, placed by hand'), 'the added point')
    _wait_text(score, lambda t: t != s0, 'the scores after adding a point')
    src = _wait_src_change(img, src, 'the figure after adding a point')
    s1 = _text(score)
    page.mouse.move(*at(0.15, 0.2)); page.mouse.down(); page.mouse.move(*at(0.15, 0.55), steps=5); page.mouse.up()
    _wait_text(score, lambda t: t != s1, 'the scores after dragging the point')
    src = _wait_src_change(img, src, 'the figure after dragging the point')
    assert _text(points).startswith('support: 11 points'), _text(points)
    page.mouse.click(*at(0.15, 0.55))
    _wait_text(points, lambda t: t.startswith('support: 10 points, placed by hand'), 'the removed point')
    return _wait_src_change(img, src, 'the figure after removing the point')


def drive_sinusoid(page, shot):
    score = _label(page, r'^query MSE after \d+ steps? —')
    _wait_text(score, lambda t: 'MAML' in t, 'the sinusoid app')
    img = _img(page, 0)
    src0 = img.get_attribute('src')
    _slider_key(page, 'inner steps', 'ArrowRight')  # 10 -> 11
    _wait_text(score, lambda t: t.startswith('query MSE after 11 steps'), 'the score after 11 inner steps')
    src1 = _wait_src_change(img, src0, 'the sinusoid figure after a slider move')
    s1 = _text(score)
    _slider_key(page, 'amplitude A', 'ArrowLeft', 3)  # 3.5 -> 3.2
    _wait_text(score, lambda t: t != s1, 'the score after moving the amplitude')
    src2 = _wait_src_change(img, src1, 'the figure after moving the amplitude')
    _click_points(page, score, img, src2)
    before = _text(score)
    _button(page, 'new task').click()
    _wait_text(score, lambda t: t != before, 'a new task')
    _button(page, 'Reptile').click()
    _wait_text(score, lambda t: 'Reptile:' in t, 'the Reptile start')
    page.screenshot(path=str(SHOTS/f'{shot}.png'))
    return _live_train_and_stop(page, 'retrain Reptile live', shot)


def drive_mapreduce(page, shot):
    status = _label(page, r'^meta-iteration \d+ · next:')
    check = _label(page, r'^per-task loop vs batched map')
    _wait_text(status, lambda t: t.startswith('meta-iteration 3 · next: Reduce'), 'the stepper (3 iterations in, mapped)')
    img = _img(page, 0)
    src = img.get_attribute('src')
    _button(page, 'Reduce').click()
    _wait_text(status, lambda t: t.startswith('meta-iteration 4 · next: Map'), 'the reduce')
    src = _wait_src_change(img, src, 'the figure after Reduce')
    _button(page, 'Map').click()
    _wait_text(status, lambda t: t.startswith('meta-iteration 4 · next: Reduce'), 'the map')
    diff = float(re.search(r'= ([0-9.e+-]+)', _wait_text(check, lambda t: '=' in t, 'the loop/batch check')).group(1))
    assert diff < 1e-5, f'the per-task loop and the batched map differ by {diff}'
    src = _wait_src_change(img, src, 'the figure after Map')
    _button(page, 'per-task loop').click()
    _button(page, 'Step').click()
    _wait_text(check, lambda t: 'the reduce uses the per-task loop' in t, 'the switch to the per-task loop')
    _wait_text(status, lambda t: t.startswith('meta-iteration 5 · next: Map'), 'the step')
    _slider_key(page, 'inner steps', 'ArrowLeft', 2)  # 5 -> 3, applies to the next map
    _button(page, 'Map').click()
    _wait_text(status, lambda t: t.startswith('meta-iteration 5 · next: Reduce'), 'the map after the step')
    src = _wait_src_change(img, src, 'the figure after that map')
    _slider_key(page, 'outer lr ε', 'ArrowLeft', 3)  # a map is pending: the preview redraws at once
    src = _wait_src_change(img, src, 'the preview after moving ε')
    assert _text(status).startswith('meta-iteration 5 · next: Reduce'), _text(status)
    play = _button(page, 'Play')
    play.click()
    _wait_text(status, lambda t: int(re.search(r'meta-iteration (\d+)', t).group(1)) >= 8, 'Play to step on', timeout=HANG)
    # Unpress, unless Play has already ended by itself (after `play_steps`): a click then would start a new play.
    # If it ends between this look and the click, the click starts one more play, which ends by itself; either way
    # Play must come back up (it once stayed pressed with no player behind it: 09c's 'pressed again while it ends').
    if play.evaluate("b => b.classList.contains('mod-active')"): play.click()
    page.wait_for_function("b => !b.classList.contains('mod-active')", arg=play.element_handle(), timeout=HANG*1000)
    page.screenshot(path=str(SHOTS/f'{shot}.png'))
    _button(page, 'Reset').click()
    _wait_text(status, lambda t: t.startswith('meta-iteration 0 · next: Map'), 'the reset', timeout=HANG)
    src = img.get_attribute('src')
    _button(page, 'MAML').click()  # MAML's map: the support step, the query gradient through it; the reduce: their mean
    _wait_text(status, lambda t: t.startswith('meta-iteration 0 · next: Map'), 'the MAML reset', timeout=HANG)
    _button(page, 'Step').click()
    _wait_text(status, lambda t: t.startswith('meta-iteration 1 · next: Map'), 'a MAML step')
    # the check is its own widget, updated after the status: wait for it (after Reset it says 'press Map to compare')
    diff = float(re.search(r'= ([0-9.e+-]+)', _wait_text(check, lambda t: 'at meta-iteration 0:' in t, 'the MAML loop/batch check')).group(1))
    assert diff < 1e-5, f'MAML: the per-task loop and the batched map differ by {diff}'
    _wait_src_change(img, src, 'the figure after a MAML step')


def drive_shapes(page, shot):
    score = _label(page, r'query accuracy after \d+ steps? —')
    _wait_text(score, lambda t: t.startswith('heart'), 'the shape app (a heart)')
    img = _img(page, 0)
    src = img.get_attribute('src')
    page.locator('.widget-dropdown').filter(has=page.locator('.widget-label', has_text='shape kind')).locator('select').select_option('ring')
    _wait_text(score, lambda t: t.startswith('ring'), 'the ring task')
    src = _wait_src_change(img, src, 'the decision maps of the ring')
    _slider_key(page, 'inner steps', 'ArrowRight', 2)  # 5 -> 7
    _wait_text(score, lambda t: 'after 7 steps' in t, 'the maps after 7 steps')
    _button(page, 'what kind?').click()
    _wait_text(score, lambda t: t.startswith('5-way, 1-shot'), 'the shape-kind task')
    src = img.get_attribute('src')  # the label is set after the figure: this is the 1-shot figure
    _slider_key(page, 'K (per kind)', 'ArrowRight', 2)
    _wait_text(score, lambda t: t.startswith('5-way, 3-shot'), 'three pictures per kind')
    src = _wait_src_change(img, src, 'the shape-kind figure')
    page.screenshot(path=str(SHOTS/f'{shot}.png'))
    return _live_train_and_stop(page, 'retrain what kind? live', shot)


DRIVERS = {'sinusoid_adaptation': drive_sinusoid, 'mapreduce_steps': drive_mapreduce, 'shape_classification': drive_shapes}


def _console_errors(page, errors):
    page.on('pageerror', lambda e: errors.append(str(e)))


@pytest.mark.parametrize('lesson', LESSONS)
def test_lesson_in_jupyterlab(browser, lab, lesson):
    base, token = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    page = ctx.new_page()
    page.set_default_timeout(HANG*1000)
    try:
        page.goto(f'{base}/lab/tree/tutorials/{lesson}.ipynb?reset&token={token}')
        page.get_by_text(re.compile(r'\| Idle')).first.wait_for(timeout=HANG*1000)  # the kernel started (no kernel dialog)
        page.locator('.jp-MainMenu, #jp-MainMenu, .lm-MenuBar').first.get_by_text('Run', exact=True).click()
        page.locator('li[data-command="runmenu:run-all"]').click()
        # every code cell has run: no "[*]" prompt is left and the last cell has an execution count
        page.wait_for_function("""() => {
            const p = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea .jp-InputPrompt')].map(e => e.textContent);
            return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t)); }""", timeout=RUN_ALL_TIMEOUT)
        page.get_by_text(re.compile(r'\| Idle')).first.wait_for(timeout=HANG*1000)
        _folded_as_saved(page, lesson)
        errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').filter(has_text='Error')
        assert errors.count() == 0, errors.first.inner_text()
        DRIVERS[lesson](page, f'lab_{lesson}')
        page.screenshot(path=str(SHOTS/f'lab_{lesson}_end.png'))
    finally:
        ctx.close()
        _shutdown_kernels(base, token)


@pytest.mark.parametrize('lesson', LESSONS)
def test_lesson_as_voila_app(browser, voila, lesson):
    base, token = voila
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    page = ctx.new_page()
    page.set_default_timeout(HANG*1000)
    elsewhere = []  # every request to another host: an app must work offline (Voilà's Font Awesome comes from a CDN)
    page.on('request', lambda r: None if urlparse(r.url).scheme in ('data', 'blob') or urlparse(r.url).hostname == '127.0.0.1'
            else elsewhere.append(r.url))
    try:
        t0 = time.monotonic()
        page.goto(f'{base}/voila/render/{lesson}.ipynb?token={token}', timeout=RUN_ALL_TIMEOUT)
        page.locator('img.widget-image').first.wait_for(timeout=RUN_ALL_TIMEOUT)  # the app is shown
        took, load = time.monotonic() - t0, os.getloadavg()
        # reported, never asserted (a busy machine is slower): the aim is 10 s on a quiet 2-core machine
        print(f'{lesson}: Voila showed the app {took:.1f}s after the request (load average {load[0]:.1f} on {os.cpu_count()} cores)')
        assert page.get_by_text('import numpy as np').count() == 0  # an app: the code is not shown
        icon = page.locator('.jupyter-button i[class*="fa-"]').first  # icons: the Font Awesome bundled in Voilà
        if icon.count():
            font = icon.evaluate("e => getComputedStyle(e, '::before').fontFamily")
            assert 'Font Awesome' in font, f'{lesson}: a button icon is drawn in {font!r}, not Font Awesome'
        DRIVERS[lesson](page, f'voila_{lesson}')
        assert not elsewhere, f'{lesson} as a Voilà app requested other hosts: {sorted(set(elsewhere))[:5]}'
        page.screenshot(path=str(SHOTS/f'voila_{lesson}_end.png'), full_page=True)
    finally: ctx.close()


# ---- the lessons without an app (3, 5, 6, 8): they run to the end with no error and show their figures ------------------

def _folded_as_saved(page, lesson):
    "The lesson's `#| hide` cells (saved with source_hidden) show folded in JupyterLab: a placeholder each, no code."
    nb = json.loads((ROOT/'nbs'/'tutorials'/f'{lesson}.ipynb').read_text())
    hidden = sum(1 for c in nb['cells'] if c.get('metadata', {}).get('jupyter', {}).get('source_hidden'))
    n = page.locator('.jp-Notebook .jp-InputPlaceholder').count()
    assert n == hidden, f'{lesson}: {n} folded cells in JupyterLab, {hidden} saved folded'


def _no_errors(page, where):
    "No error output and no traceback on the page."
    err = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').filter(has_text='Error')
    assert err.count() == 0, f'{where}: {err.first.inner_text()[:2000]}'
    assert page.get_by_text('Traceback (most recent call last)').count() == 0, f'{where}: a traceback is shown'


@pytest.mark.parametrize('lesson', PAGES)
def test_page_lesson_in_jupyterlab(browser, lab, lesson):
    "Run all in JupyterLab: every cell runs, nothing fails, and the figures appear (the images the kernel sent)."
    base, token = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    page = ctx.new_page()
    page.set_default_timeout(HANG*1000)
    try:
        page.goto(f'{base}/lab/tree/tutorials/{lesson}.ipynb?reset&token={token}')
        page.get_by_text(re.compile(r'\| Idle')).first.wait_for(timeout=HANG*1000)
        page.locator('.jp-Notebook .jp-OutputArea-output').first.wait_for(state='attached')  # saved outputs drawn
        page.evaluate("() => document.querySelectorAll('.jp-Notebook .jp-OutputArea-output').forEach(e => e.dataset.old = '1')")
        page.locator('.jp-MainMenu, #jp-MainMenu, .lm-MenuBar').first.get_by_text('Run', exact=True).click()
        page.locator('li[data-command="runmenu:run-all"]').click()
        page.wait_for_function("""() => {
            const p = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea .jp-InputPrompt')].map(e => e.textContent);
            return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t)); }""", timeout=RUN_ALL_TIMEOUT)
        page.get_by_text(re.compile(r'\| Idle')).first.wait_for(timeout=HANG*1000)
        _folded_as_saved(page, lesson)
        _no_errors(page, f'{lesson} in JupyterLab')
        fresh = page.locator('.jp-Notebook .jp-OutputArea-output:not([data-old]) img')
        assert fresh.count() >= 1, f'{lesson}: no figure came from the run'
        page.screenshot(path=str(SHOTS/f'lab_{lesson}_end.png'))
    finally:
        ctx.close()
        _shutdown_kernels(base, token)


@pytest.mark.parametrize('lesson', PAGES)
def test_page_lesson_as_voila_page(browser, voila, lesson):
    "As a Voilà page: it renders to the end, shows no code and no error, has its figures, and asks no other host."
    base, token = voila
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    page = ctx.new_page()
    page.set_default_timeout(HANG*1000)
    elsewhere = []
    page.on('request', lambda r: None if urlparse(r.url).scheme in ('data', 'blob') or urlparse(r.url).hostname == '127.0.0.1'
            else elsewhere.append(r.url))
    try:
        page.goto(f'{base}/voila/render/{lesson}.ipynb?token={token}', timeout=RUN_ALL_TIMEOUT)
        page.wait_for_function("() => document.querySelector('.jp-OutputArea-output') && "
                               "!document.querySelector('.voila-skeleton-container, #loading')", timeout=RUN_ALL_TIMEOUT)
        _no_errors(page, f'{lesson} in Voilà')
        assert page.locator('.jp-InputArea-editor, .jp-Cell-inputWrapper .cm-editor').count() == 0, f'{lesson}: code is shown'
        assert page.locator('.jp-OutputArea-output img').count() >= 1, f'{lesson}: no figure'
        assert not elsewhere, f'{lesson} as a Voilà page requested other hosts: {sorted(set(elsewhere))[:5]}'
        page.screenshot(path=str(SHOTS/f'voila_{lesson}_end.png'), full_page=True)
    finally: ctx.close()

