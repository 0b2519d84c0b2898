"""How long each lesson takes to appear as a Voilà app (what `make app` serves), measured in headless Chromium.

    python scripts/app_times.py                       # every lesson, 3 rounds, interleaved
    python scripts/app_times.py --rounds 5 cnp_band   # just these

For each request it reports two times, from the request to:
  - *shown*: the lesson's app is on the page (its first widget image), what a student waits for; for a lesson
    without an app (lessons 3, 5, 6 and 8), the page's first output;
  - *complete*: Voilà has run the last cell (the page's figures and tables below the app included).
Lessons are requested in turn, round after round, so that a change in the machine's load hits all of them alike;
it prints each time, the median per lesson, the load average before and after, the CPU and the thread count. The
aim (issue 19) is `shown` within 10 s on a quiet 2-core machine: read the load average before trusting a time.
Nothing here is asserted; tests/test_browser.py checks that the apps work, never how fast."""
import argparse, os, platform, secrets, socket, statistics, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ('sinusoid_adaptation', 'mapreduce_steps', 'why_batching', 'shape_classification', 'compare', 'compare_kinds',
           'cnp_band', 'compare_shelf')  # the course's order (nbs/sidebar.yml)
APPS = {'sinusoid_adaptation', 'mapreduce_steps', 'shape_classification', 'cnp_band'}  # the lessons with an app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_http(url: str, proc, timeout: float = 300):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None: raise SystemExit(f'voila exited with {proc.returncode}')
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200: return
        except OSError: pass
        time.sleep(0.2)
    raise SystemExit(f'voila did not answer {url} within {timeout}s')


def cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('lessons', nargs='*', help=f'lessons to time (default: all of {", ".join(LESSONS)})')
    p.add_argument('--rounds', type=int, default=3, help='requests per lesson (default: 3)')
    p.add_argument('--whole', action='store_true', help="Voilà's default rendering: nothing shows until every cell has run "
                   "(what `make app` did before it turned progressive rendering on)")
    p.add_argument('--chromium', default='/usr/bin/chromium', help="Chromium binary (Debian's package)")
    p.add_argument('--out', help='also save every time, the medians and the load averages, stamped with commit, '
                                 'versions, CPU and command (e.g. results/app_times.json)')
    a = p.parse_args(argv)
    lessons = a.lessons or list(LESSONS)
    bad = [l for l in lessons if not (ROOT/'nbs'/'tutorials'/f'{l}.ipynb').exists()]
    if bad: raise SystemExit(f'app_times: no lesson {bad} in nbs/tutorials/; valid: {list(LESSONS)}')
    from playwright.sync_api import sync_playwright
    port, token = free_port(), secrets.token_hex(16)
    tmp = Path(tempfile.mkdtemp(prefix='metamr-apptimes-'))
    env = {k: v for k, v in os.environ.items() if not k.startswith('JUPYTER') and k != 'IN_TEST'}
    env.update(JUPYTER_PATH=str(ROOT/'share'/'jupyter'), JUPYTER_CONFIG_DIR=str(tmp/'config'), OMP_NUM_THREADS='1',
               MPLBACKEND='Agg', PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, '-m', 'voila', str(ROOT/'nbs'/'tutorials'), '--no-browser', '--template=metamr',
                             '--Voila.ip=127.0.0.1', f'--Voila.port={port}',
                             f'--progressive_rendering={not a.whole}', f'--Voila.token={token}'],
                            cwd=ROOT, env=env, stdout=open(tmp/'voila.log', 'w'), stderr=subprocess.STDOUT)
    base, times = f'http://127.0.0.1:{port}', {l: [] for l in lessons}
    load0 = os.getloadavg()
    try:
        wait_http(f'{base}/?token={token}', proc)
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=a.chromium, headless=True, args=['--no-sandbox', '--disable-gpu'])
            for r in range(a.rounds):
                for lesson in lessons:
                    page = b.new_page(viewport={'width': 1400, 'height': 1000})
                    t0 = time.monotonic()
                    page.goto(f'{base}/voila/render/{lesson}.ipynb?token={token}', timeout=600_000, wait_until='commit')
                    first = 'img.widget-image' if lesson in APPS else '.jp-OutputArea-output'
                    page.locator(first).first.wait_for(timeout=600_000)
                    shown = time.monotonic() - t0
                    # progressive rendering puts a skeleton where a cell's output will come; whole-page rendering shows
                    # a spinner (#loading) until the last cell has run: complete = neither is left
                    page.wait_for_function("() => !document.querySelector('.voila-skeleton-container, #loading')",
                                           timeout=600_000)
                    complete = time.monotonic() - t0
                    times[lesson].append((shown, complete))
                    print(f'round {r + 1} {lesson:22} shown {shown:5.1f}s  complete {complete:5.1f}s  '
                          f'(load {os.getloadavg()[0]:.1f})', flush=True)
                    page.close()
            b.close()
    finally:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill()
    print(f'\nmedians over {a.rounds} round(s), {os.cpu_count()} cores of {cpu_model()}, OMP_NUM_THREADS=1; '
          f'load average {load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after')
    for lesson, ts in times.items():
        sh, co = statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)
        print(f'  {lesson:22} shown {sh:5.1f}s (range {min(t[0] for t in ts):.1f}-{max(t[0] for t in ts):.1f})  '
              f'complete {co:5.1f}s')
    if a.out:
        import json
        sys.path.insert(0, str(ROOT))
        from metamr_nb.training import provenance
        cmd = ' '.join(['python', 'scripts/app_times.py', *(argv if argv is not None else sys.argv[1:])])
        doc = {'provenance': {**provenance(cmd), 'threads': 1, 'cores': os.cpu_count()},  # OMP_NUM_THREADS=1 in the kernels
               'rendering': 'whole' if a.whole else 'progressive', 'rounds': a.rounds,
               'load_average': {'before': round(load0[0], 2), 'after': round(os.getloadavg()[0], 2)},
               'apps': sorted(APPS & set(times)),
               'lessons': {l: {'shown_s': [round(t[0], 2) for t in ts], 'complete_s': [round(t[1], 2) for t in ts],
                               'median_shown_s': round(statistics.median(t[0] for t in ts), 2),
                               'median_complete_s': round(statistics.median(t[1] for t in ts), 2)}
                           for l, ts in times.items()}}
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(doc, indent=1) + '\n')
        print(f'saved {a.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
