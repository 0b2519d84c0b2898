"""Lesson 7 (the set encoder's uncertainty band) as a student uses it, in a real browser: JupyterLab and Voilà.

Built on the helpers of tests/test_browser.py (Debian Chromium through Python playwright with
`executable_path='/usr/bin/chromium'`, JupyterLab and Voilà started on 127.0.0.1 with a token, waits on conditions
only). The lesson runs in JupyterLab through the menu command `runmenu:run-all`, then as a Voilà app with no request
to another host; in both the test moves the *context points* slider with the keyboard, clicks *add a point* and *new
task*, and checks that the line above the figure names the new number of context points and that the figure changed.
"""
import re, shutil, sys, tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_browser as tb  # noqa: E402  (the shared browser helpers)
# the Chromium, JupyterLab and Voilà fixtures; the servers' folder is `tmp_dir` below (pytest finds it by name here)
from test_browser import browser, lab, voila  # noqa: E402,F401

LESSON = 'cnp_band'


@pytest.fixture(scope='module')
def tmp_dir():
    "A scratch folder with a copy of the lesson under nbs/tutorials/: the servers never write into the repository."
    d = Path(tempfile.mkdtemp(prefix='metamr-browser-cnp-'))
    (d/'nbs'/'tutorials').mkdir(parents=True)
    shutil.copy2(tb.ROOT/'nbs'/'tutorials'/f'{LESSON}.ipynb', d/'nbs'/'tutorials')
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _k(text: str) -> int:
    "The number of context points the app's line names."
    return int(re.match(r'(\d+) context points?:', text).group(1))


def drive_band(page, shot):
    "Slider, 'add a point' and 'new task' each change the line above the figure and the figure itself."
    score = tb._label(page, r'^\d+ context points?: query MSE')
    k0 = _k(tb._wait_text(score, lambda t: 'inside ±2σ' in t, 'the band app'))
    img = tb._img(page, 0)
    src = img.get_attribute('src')
    tb._slider_key(page, 'context points', 'ArrowRight', 2)
    tb._wait_text(score, lambda t: _k(t) == k0 + 2, f'the band with {k0 + 2} context points')
    src = tb._wait_src_change(img, src, 'the band after the slider move')
    tb._button(page, 'add a point').click()
    tb._wait_text(score, lambda t: _k(t) == k0 + 3, f'the band with {k0 + 3} context points')
    src = tb._wait_src_change(img, src, "the band after 'add a point'")
    tb._slider_key(page, 'context points', 'ArrowLeft', k0 + 2)
    one = tb._wait_text(score, lambda t: _k(t) == 1, 'the band with one context point')
    src = tb._wait_src_change(img, src, 'the band with one point')
    tb._button(page, 'new task').click()
    tb._wait_text(score, lambda t: _k(t) == 1 and t != one, 'a new task')
    tb._wait_src_change(img, src, 'the band of a new task')
    page.screenshot(path=str(tb.SHOTS/f'{shot}.png'))


def test_band_lesson_in_jupyterlab(browser, lab):  # noqa: F811 (fixtures)
    base, token = lab
    tb.SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    page = ctx.new_page()
    page.set_default_timeout(tb.HANG*1000)
    try:
        page.goto(f'{base}/lab/tree/tutorials/{LESSON}.ipynb?reset&token={token}')
        page.get_by_text(re.compile(r'\| Idle')).first.wait_for(timeout=tb.HANG*1000)
        page.locator('.jp-MainMenu, #jp-MainMenu, .lm-MenuBar').first.get_by_text('Run', exact=True).click()
        page.locator('li[data-command="runmenu:run-all"]').click()
        page.wait_for_function("""() => {
            const p = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea .jp-InputPrompt')].map(e => e.textContent);
            return p.length > 0 && p.every(t => /\\[\\d+\\]/.test(t)); }""", timeout=tb.RUN_ALL_TIMEOUT)
        page.get_by_text(re.compile(r'\| Idle')).first.wait_for(timeout=tb.HANG*1000)
        errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').filter(has_text='Error')
        assert errors.count() == 0, errors.first.inner_text()
        drive_band(page, f'lab_{LESSON}')
    finally:
        ctx.close()
        tb._shutdown_kernels(base, token)


def test_band_lesson_as_voila_app(browser, voila):  # noqa: F811
    base, token = voila
    tb.SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    page = ctx.new_page()
    page.set_default_timeout(tb.HANG*1000)
    elsewhere = []  # every request to another host: the app must work offline
    page.on('request', lambda r: None if urlparse(r.url).scheme in ('data', 'blob') or urlparse(r.url).hostname == '127.0.0.1'
            else elsewhere.append(r.url))
    try:
        page.goto(f'{base}/voila/render/{LESSON}.ipynb?token={token}', timeout=tb.RUN_ALL_TIMEOUT)
        page.locator('.widget-label').first.wait_for(timeout=tb.RUN_ALL_TIMEOUT)
        assert page.get_by_text('import numpy as np').count() == 0  # an app: the code is not shown
        drive_band(page, f'voila_{LESSON}')
        assert not elsewhere, f'the lesson as a Voilà app requested other hosts: {sorted(set(elsewhere))[:5]}'
    finally: ctx.close()
