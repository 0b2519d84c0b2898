"""Re-run one recorded fidelity row on this machine and compare it with the record, within a stated tolerance.

    python scripts/reproduce.py maml_k10                 # or: make reproduce ROW=maml_k10
    python scripts/reproduce.py maml_k10 --steps 2000    # a quick look (compared only with a record of that length)

The row is trained and scored with scripts/fidelity.py into a temporary folder (about two minutes for the 70,000-step
protocol on one core), then every recorded mean is compared with the new one. Tolerance: the recorded 95% interval of
that mean (its half-width, 1.96 standard errors over the 1,000 tasks) — the spread that the choice of tasks alone
gives, which is also about the spread between training seeds. A difference within it: 'agrees'. Where the two
records came from (commit, versions, CPU, threads) is printed beside them: a plain inner step whose tasks diverge on
one CPU and not on another is what the safeguarded rows are for."""
import argparse, json, math, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = [ROOT/'results'/'fidelity.json']


def recorded(row, steps):
    for f in RECORDS:
        if f.exists():
            d = json.loads(f.read_text())
            if row in d['runs'] and d['steps'] == steps: return f, d['runs'][row]
    return None, None


def blocks(r):
    "The scored blocks of a row: name → {step: {'mean', 'ci95', 'diverged'}}."
    out = {'10 points': r['steps']}
    if 'safeguarded' in r: out['10 points, safeguarded'] = r['safeguarded']['steps']
    if 'at_5_shots' in r:
        out['5 points'] = r['at_5_shots']['steps']
        if 'safeguarded' in r['at_5_shots']: out['5 points, safeguarded'] = r['at_5_shots']['safeguarded']['steps']
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('row', help='a row of results/fidelity.json, e.g. maml_k10')
    ap.add_argument('--steps', type=int, default=70000, help='meta-steps (default: the protocol, 70000)')
    a = ap.parse_args(argv)
    src, rec = recorded(a.row, a.steps)
    if rec is None: sys.exit(f"reproduce: no recorded row {a.row!r} of {a.steps} steps in {', '.join(map(str, RECORDS))}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)/'row.json'
        cmd = [sys.executable, str(ROOT/'scripts'/'fidelity.py'), '--runs', a.row, '--steps', str(a.steps),
               '--runs-dir', str(Path(tmp)/'runs'), '--out', str(out)]
        print('running:', ' '.join(cmd[1:]), flush=True)
        if subprocess.run(cmd).returncode != 0: sys.exit("reproduce: the run failed (its error is above)")
        new = json.loads(out.read_text())['runs'][a.row]
    print(f"\nrecorded ({src.relative_to(ROOT)}): {rec.get('provenance', {}).get('cpu', 'CPU not recorded')}, "
          f"commit {str(rec.get('provenance', {}).get('commit'))[:10]}; measured here: {new['provenance']['cpu']}, "
          f"commit {str(new['provenance']['commit'])[:10]}")
    agree, total = 0, 0
    print(f"{'':24}{'step':>5}{'recorded':>11}{'measured':>11}{'tolerance':>11}   verdict")
    mine = blocks(new)
    for name, steps in blocks(rec).items():
        for s, r in steps.items():
            m = mine.get(name, {}).get(s)
            if m is None: continue
            tol, d = r['ci95'], abs(m['mean'] - r['mean'])
            ok = math.isfinite(d) and d <= tol
            agree, total = agree + ok, total + 1
            extra = f" (diverged: {r['diverged']} recorded, {m['diverged']} here)" if r['diverged'] or m['diverged'] else ''
            print(f"{name:24}{s:>5}{r['mean']:11.4f}{m['mean']:11.4f}{tol:11.4f}   {'agrees' if ok else 'DIFFERS'}{extra}")
    print(f"\n{agree} of {total} means agree within their recorded 95% interval")
    return 0


if __name__ == '__main__':
    sys.exit(main())
