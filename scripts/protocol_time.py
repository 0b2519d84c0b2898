"""The MAML sinusoid protocol end to end, timed as a user runs it (issue #21): `metamr_train` for 70,000 meta-steps on
one thread, once as it trains by default and once with `--compile --sampler torch`, each followed by `metamr_eval`
on 1,000 held-out tasks, so that the faster run is seen to learn as well. Writes a results file with provenance.

    python scripts/protocol_time.py --reps 3 --out results/protocol_time.json

The compiled run starts from an empty compile cache (TORCHINDUCTOR_CACHE_DIR in a fresh folder): its time includes
compiling, as a user's first run does; it then runs once more on the cache it filled, as every later run does. Times
are CPU seconds of the command (user + system, from the OS, its compiler processes included), and the wall time beside
them. With --reps R the three runs are made R times in turn (a fresh compile cache each round), so that a change in the
machine's speed hits every variant alike; the file gives each variant's median, its every run, and the spread. The
runs go one after the other: run this on an otherwise idle machine."""
import argparse, json, os, resource, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROTOCOL = ['--family', 'sinusoid', '--algo', 'maml', '--shots', '10', '--meta-batch', '25', '--inner-steps', '1',
            '--inner-lr', '0.01', '--threads', '1', '--quiet']  # the README's MAML protocol (its --init maml aside: torch's start)
# name: (extra arguments, compile cache). 'compiled' builds its graph from an empty cache, as a user's first run does;
# 'compiled_warm' runs again on the cache that run left, as every later run does (the graph loaded, not built)
VARIANTS = {'default': ([], None), 'compiled': (['--compile', '--sampler', 'torch'], 'compile_cache'),
            'compiled_warm': (['--compile', '--sampler', 'torch'], 'compile_cache')}


def _exe(name):
    exe = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not exe: sys.exit(f"{name} is not installed; run `make setup` first")
    return exe


def run_variant(name:str, extra:list, cache:str, steps:int, work:Path, rep:int=0) -> dict:
    "Train one variant in `work/name` (compile cache `work/cache` of this round, else one of its own), timed, then evaluate it."
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'TORCHINDUCTOR_CACHE_DIR': str(work/f'{cache or name + "_compile_cache"}_{rep}')}
    cmd = [_exe('metamr_train'), *PROTOCOL, '--steps', str(steps), *extra, '--out', str(work/f'{name}_{rep}')]
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode: sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    ev = subprocess.run([_exe('metamr_eval'), str(work/f'{name}_{rep}'), '--tasks', '1000', '--steps', '0,1,5,10', '--json'],
                        env=env, capture_output=True, text=True)
    if ev.returncode: sys.exit(f"metamr_eval failed ({ev.returncode}):\n{ev.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"{name:13} {cpu:6.1f} s of CPU, {wall:6.1f} s wall: {p.stdout.strip()}", flush=True)
    return {'command': ' '.join(['metamr_train', *PROTOCOL, '--steps', str(steps), *extra, '--out', f'RUN/{name}']),
            'cpu_s': cpu, 'wall_s': wall, 'trainer_says': p.stdout.strip(), 'eval': json.loads(ev.stdout)['steps']}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=None, help='results file to write (default: print only)')
    ap.add_argument('--steps', type=int, default=70_000, help='meta-steps (default: 70000, the protocol)')
    ap.add_argument('--work', default=None, help='folder for the runs (default: a temporary one, removed)')
    ap.add_argument('--reps', type=int, default=1, help='rounds of the three runs, in turn; medians are reported (default: 1)')
    a = ap.parse_args(argv)
    if a.reps < 1: ap.error(f'--reps is {a.reps}; it must be at least 1')
    from metamr_nb.training import provenance
    pv = provenance(['python', 'scripts/protocol_time.py', *(argv if argv is not None else sys.argv[1:])])  # before anything is written
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix='protocol_time_'))
    rounds = []
    try:
        for rep in range(a.reps): rounds.append({name: run_variant(name, extra, cache, a.steps, work, rep) for name, (extra, cache) in VARIANTS.items()})
    finally:
        if not a.work: shutil.rmtree(work, ignore_errors=True)
    pv['threads'] = 1  # each run's --threads 1 (this script itself computes nothing)
    runs = {}
    for name in VARIANTS:
        rs = [r[name] for r in rounds]
        # training is seeded and deterministic: every round trains the same model, so one evaluation stands for all
        if any(r['eval'] != rs[0]['eval'] for r in rs): sys.exit(f"{name}: the rounds trained different models; this script assumes seeded runs")
        cpu, wall = [r['cpu_s'] for r in rs], [r['wall_s'] for r in rs]
        runs[name] = {**rs[0], 'cpu_s': statistics.median(cpu), 'wall_s': statistics.median(wall), 'cpu_s_runs': cpu, 'wall_s_runs': wall,
                      'cpu_s_min': min(cpu), 'cpu_s_max': max(cpu)}
    res = {'provenance': pv, 'steps': a.steps, 'reps': a.reps, 'target_cpu_s': 60, 'runs': runs}
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
        print(f"wrote {a.out}")
    return res


if __name__ == '__main__': main()
