"""Studies of the trained meta-learners: extrapolation, noise, shots and steps, and the reproduction table.

    python scripts/studies.py            # full studies (a few minutes), writes results/studies/*.json
    python scripts/studies.py --quick    # a reduced version (tiny runs, few tasks) in seconds: what the test suite runs
    python scripts/studies.py --only noise,shots_steps --out /tmp/st

The full studies reuse the MAML-protocol runs that results/fidelity.json was scored on (made by scripts/fidelity.py:
maml_k10 and reptile_k10, read-only), train the set encoder (CNP) on the same protocol — 70,000 meta-steps of 25
sinusoid tasks, K = 10 — and, for the noise study, two short MAML runs and a CNP trained with noisy targets (runs/studies/).
The CNP has no inner loop: one forward pass conditions it on the support set, so its score is the same at every step count.
Every evaluation is what `metamr_eval RUN ... --json` computes (same family, same task seed, same `evaluate`); each
row stores that exact command, so any number can be checked by hand. `--quick` trains tiny runs (with the package's
own `metamr_train`) into the output folder instead, so it needs nothing that is not in the repository.
Every result file records the command that made it, the seeds and the package version; `check(name, data)` is the
schema the tests hold the saved files to."""
import argparse, json, math, os, platform, shlex, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PI = math.pi
from metamr_nb.runs import EVAL_SEED as SEED, eval_tasks  # the evaluation tasks: metamr_eval's draw (training uses seed 0)
PUBLISHED = {'source': 'Finn, Abbeel & Levine 2017, MAML, table 2 (sinusoid regression on 5-point tasks; by its section '
                       '5.1 and appendix B, the model meta-trained with K = 10, fine-tuned on K = 5 points)',
             'train_shots': 10, 'shots': 5, 'steps': {'1': 0.67, '5': 0.38, '10': 0.35}}

# ---------------------------------------------------------------------------------------------------- schema

COMMON = {'study', 'question', 'command', 'seed', 'version', 'python', 'quick', 'tasks', 'runs', 'seconds'}
SCHEMA = {  # study -> (its top-level keys beyond COMMON, the keys of each row)
    'extrapolation': ({'rows', 'examples'}, {'learner', 'axis', 'band', 'centre', 'distance', 'steps', 'eval_command'}),
    'noise': ({'rows', 'train_noise', 'paired'}, {'learner', 'train_noise', 'sigma', 'steps', 'eval_command'}),
    'shots_steps': ({'rows', 'curves', 'baselines'}, {'learner', 'shots', 'steps'}),
    'reproduction': ({'rows', 'published', 'fidelity_file'}, {'run', 'train_shots', 'shots', 'train_command', 'eval_command', 'steps'}),
}
STAT = {'mean', 'ci95', 'median', 'median_ci95', 'diverged'}


def check(name, d):
    "Raise AssertionError if `d` (one study's JSON) does not have the shape `main` writes for study `name`."
    top, row = SCHEMA[name]
    assert d['study'] == name, (d['study'], name)
    assert COMMON | top <= set(d), f"{name}: missing {sorted(COMMON | top - set(d))}"
    assert d['command'].startswith('python scripts/studies.py'), d['command']
    assert d['rows'], f'{name}: no rows'
    for r in d['rows']:
        assert row <= set(r), f"{name}: row missing {sorted(row - set(r))}"
        need = STAT - {'median_ci95'} if name == 'reproduction' else STAT  # fidelity.json: metamr_eval's own statistics
        assert r['steps'] and all(need <= set(v) for v in r['steps'].values()), f'{name}: step stats'
        for k in ('eval_command', 'train_command'):
            if k in r and r[k] is not None: assert r[k].startswith(('metamr_eval ', 'metamr_train ')), r[k]
    for run in d['runs'].values(): assert {'path', 'train_command'} <= set(run), run
    if name in ('extrapolation', 'noise', 'shots_steps'):
        assert {'maml', 'reptile', 'cnp'} <= {r['learner'] for r in d['rows']}, f'{name}: a learner is missing'
    if name == 'noise':
        for p in d['paired']: assert {'pair', 'sigma', 'steps', 'mean_diff', 'ci95'} <= set(p), p
    if name == 'extrapolation':
        assert {r['axis'] for r in d['rows']} == {'x', 'amplitude', 'phase', 'family'}
        for e in d['examples']: assert {'learner', 'axis', 'band', 'x', 'y', 'x_support', 'y_support', 'pred'} <= set(e)
    if name == 'shots_steps':
        assert {r['learner'] for r in d['rows']} >= {'scratch', 'pretrained'}
        for c in d['curves']: assert {'learner', 'shots', 'steps'} <= set(c) and '0' in c['steps']
    if name == 'reproduction': assert set(d['published']['steps']) == {'1', '5', '10'}


# ---------------------------------------------------------------------------------------------------- helpers

def fmt(v):
    "A number as the command line takes it (and as the study uses it: the same rounded value)."
    return f'{v:.6g}'


def rel(p):
    p = str(p)
    return os.path.relpath(p, ROOT) if p.startswith(str(ROOT)) else p


def stats(curve):
    "Per-step statistics of `adaptation_curve` losses: what `metamr_eval --json` prints."
    from metamr_nb.inference import _ci
    import numpy as np
    out = {}
    for s, r in curve.items():
        loss = np.asarray(r['loss'], dtype=np.float64)
        ok = np.isfinite(loss)
        with np.errstate(invalid='ignore', over='ignore'): m, ci = _ci(loss)  # NaN/inf when a task diverged: reported as such
        # the median counts a diverged task (NaN) as the worst; its 95% CI from order statistics (no normality needed)
        w = np.sort(np.where(np.isnan(loss), np.inf, loss))
        n, h = len(w), 1.96*math.sqrt(len(w))/2
        lo, hi = max(int(math.floor(n/2 - h)), 0), min(int(math.ceil(n/2 + h)), n - 1)
        d = {'mean': m, 'ci95': ci, 'median': float(np.median(w)), 'median_ci95': [float(w[lo]), float(w[hi])],
             'diverged': int((~ok).sum())}
        if not ok.all() and ok.any(): d['finite_mean'], d['finite_ci95'] = _ci(loss[ok])
        r5 = lambda v: round(v, 5) if isinstance(v, float) and math.isfinite(v) else v
        out[str(s)] = {k: [r5(a) for a in v] if isinstance(v, list) else r5(v) for k, v in d.items()}
    return out


class Ctx:
    "What every study needs: the options, the learners (loaded once) and the runs' records."
    def __init__(self, a):
        self.a, self.quick, self.tasks = a, a.quick, a.tasks
        self.runs, self._learners = {}, {}

    def train(self, name, args, steps):
        "Train (or reuse) a run with `metamr_train`, called in-process; returns its folder."
        from metamr_nb.cli import train_main
        out = Path(self.a.runs_dir)/f'{name}_{steps}'
        cmd = ['--steps', str(steps), *args, '--seed', '0', '--eval-every', '0', '--quiet', '--out', str(out)]
        import contextlib, io
        from metamr_nb.training import load_checkpoint
        t, started = time.perf_counter(), (out/'checkpoint.pt').exists()
        done = started and load_checkpoint(out)['step'] >= steps
        if not done:  # train it, or finish an interrupted run
            args = ['--resume', '--steps', str(steps), '--quiet', '--out', str(out)] if started else cmd
            with contextlib.redirect_stdout(io.StringIO()): train_main(args)
        self.runs[name] = {'path': rel(out), 'train_command': ' '.join(['metamr_train', *map(rel, cmd)]),
                           # None: a finished run was reused; resumed: the seconds cover only the part trained now
                           'train_seconds': None if done else round(time.perf_counter() - t, 1),
                           'reused': done, 'resumed': started and not done}
        return out

    def add_run(self, name, path):
        "Register an existing run folder (its training command comes from its config)."
        cfg = json.loads((Path(path)/'config.json').read_text())['cli']
        opts = ['--algo', cfg['algo'], '--shots', str(cfg['shots']), '--inner-steps', str(cfg['inner_steps']),
                '--inner-lr', fmt(cfg['inner_lr']), '--outer-opt', cfg['outer_opt'], '--outer-lr', fmt(cfg['outer_lr']),
                '--meta-batch', str(cfg['meta_batch']), '--steps', str(cfg['steps']), '--seed', str(cfg['seed'])]
        if cfg.get('init', 'torch') != 'torch': opts += ['--init', cfg['init']]
        self.runs[name] = {'path': rel(path), 'train_command': ' '.join(['metamr_train', *opts, '--out', rel(path)])}

    def learner(self, name):
        from metamr_nb.inference import load_run
        if name not in self._learners: self._learners[name] = load_run(ROOT/self.runs[name]['path'])
        return self._learners[name]

    def eval(self, name, steps, family=None, shots=None, tasks=None, **over):
        """Score run `name` like `metamr_eval RUN --family F --OPTION V ... --steps S --seed 1 --json`.
        Returns (statistics, the command, the tasks, the per-task curve)."""
        from metamr_nb.signals import make_family
        from metamr_nb.inference import adaptation_curve
        L = self.learner(name)
        cfg = L.run_config
        base = dict(cfg['source']['config'])
        trained = base.pop('name')
        fam = family or trained
        settings = {k: tuple(float(fmt(x)) for x in v) if isinstance(v, (tuple, list)) else float(fmt(v)) for k, v in over.items()}
        F = make_family(fam, **({**base, **settings} if fam == trained else settings))
        T = tasks or self.tasks
        K = shots or cfg['trainer']['shots']
        ts = eval_tasks(cfg, T, K, family=F)  # what metamr_eval draws for this run, from family F
        curve = adaptation_curve(L, ts, steps)
        cmd = ['metamr_eval', self.runs[name]['path'], '--tasks', str(T)]
        if shots: cmd += ['--shots', str(shots)]
        cmd += ['--steps', ','.join(map(str, steps)), '--seed', str(SEED)]
        if family: cmd += ['--family', family]
        for k, v in over.items():
            cmd += ['--' + k.replace('_', '-'), ','.join(fmt(x) for x in v) if isinstance(v, (tuple, list)) else fmt(v)]
        return stats(curve), ' '.join(cmd + ['--json']), ts, curve


def example(ctx, name, ts, curve, steps, x_lo, x_hi, meta):
    "A typical failure: the task whose loss after the last step is the median, drawn on a grid with predictions after each step."
    import numpy as np, torch
    from metamr_nb.mapreduce import as_batch
    from metamr_nb.signals import make_family
    L = ctx.learner(name)
    last = np.asarray(curve[steps[-1]]['loss'])
    i = int(np.argsort(last)[len(last)//2])
    b = {k: v[i:i+1] for k, v in as_batch(ts).items()}
    xg = np.linspace(x_lo, x_hi, 121, dtype=np.float32).reshape(1, -1, 1)
    F = make_family(ts.meta['config'])
    yg = F.f(xg, {k: np.asarray(v)[i:i+1] for k, v in ts.params.items()})
    pred = {}
    for s in steps:
        p = L.adapt(b, steps=s) if s or L.algo == 'cnp' else {k: v.detach()[None] for k, v in L.params.items()}
        pred[str(s)] = [round(float(v), 4) for v in L.predict(torch.as_tensor(xg), p).reshape(-1)]
    r = lambda a: [round(float(v), 4) for v in np.asarray(a).reshape(-1)]
    return {**meta, 'learner': name, 'task_loss': {str(s): round(float(curve[s]['loss'][i]), 4) for s in steps},
            'params': {k: round(float(np.asarray(v)[i]), 4) for k, v in ts.params.items()},
            'x': r(xg), 'y': r(yg), 'x_support': r(b['x_support']), 'y_support': r(b['y_support']), 'pred': pred}


# ---------------------------------------------------------------------------------------------------- studies

def extrapolation(ctx):
    "Query MSE after 0/1/10 steps as the test tasks move outside the training distribution, for MAML, Reptile and the CNP."
    steps = [0, 1, 10]
    axes = [  # axis, band label, band centre, distance outside the training range, family, settings
        ('x', 'in range', 0.0, 0.0, None, {}),
        *[('x', f'x in [{lo:g}, {hi:g}]', (lo + hi)/2, (lo + hi)/2 - 5, None, {'query_x_range': (lo, hi)})
          for lo, hi in ([(5, 6), (6, 7), (7, 8), (8, 10)] if not ctx.quick else [(5, 6), (8, 10)])],
        ('amplitude', 'in range', 2.55, 0.0, None, {}),
        *[('amplitude', f'A in [{lo:g}, {hi:g}]', (lo + hi)/2, (lo + hi)/2 - 5, None, {'amplitude': (lo, hi)})
          for lo, hi in ([(5, 6), (6, 8), (8, 10), (10, 15)] if not ctx.quick else [(5, 6), (10, 15)])],
        # phase is circular: φ = 2π is φ = 0, so the distance to [0, π] is min(φ − π, 2π − φ)
        ('phase', 'in range', PI/2, 0.0, None, {}),
        *[('phase', f'φ in [{lo:g}π, {hi:g}π]', (lo + hi)/2*PI, min((lo + hi)/2 - 1, 2 - (lo + hi)/2)*PI, None,
           {'phase': (lo*PI, hi*PI)})
          for lo, hi in ([(1, 1.25), (1.25, 1.5), (1.5, 1.75), (1.75, 2)] if not ctx.quick else [(1, 1.25), (1.75, 2)])],
        ('family', 'sinusoid (trained)', None, None, None, {}),
        ('family', 'square wave', None, None, 'square', {}),
        ('family', 'line', None, None, 'linear', {}),
    ]
    rows, examples = [], []
    pick = {('x', 'x in [8, 10]'): (-5, 10), ('amplitude', 'A in [10, 15]'): (-5, 5), ('family', 'square wave'): (-5, 5),
            ('phase', 'φ in [1.25π, 1.5π]'): (-5, 5)}
    for name in LEARNERS:
        for axis, band, centre, dist, fam, over in axes:
            st, cmd, ts, curve = ctx.eval(name, steps, family=fam, **over)
            rows.append({'learner': name, 'axis': axis, 'band': band, 'centre': None if centre is None else round(centre, 4),
                         'distance': None if dist is None else round(dist, 4),
                         'steps': st, 'eval_command': cmd})
            if (axis, band) in pick:
                examples.append(example(ctx, name, ts, curve, steps, *pick[axis, band], {'axis': axis, 'band': band}))
    return {'rows': rows, 'examples': examples}


def noise(ctx):
    "Post-adaptation MSE against the clean function as the support targets get noisier; does training with noise help?"
    steps = [0, 1, 10]
    sigmas = [0, 0.1, 0.25, 0.5, 0.75, 1.0] if not ctx.quick else [0, 0.5, 1.0]
    rows, per = [], {}
    for name in NOISE_RUNS:
        tn = ctx.runs_noise[name]
        for s in sigmas:
            st, cmd, _, curve = ctx.eval(name, steps, noise=s)  # query targets stay clean (query_noise False)
            rows.append({'learner': name, 'train_noise': tn, 'sigma': s, 'steps': st, 'eval_command': cmd})
            per[name, s] = curve
    # each pair differs only in training noise and is scored on the very same tasks: compare them task by task
    from metamr_nb.inference import _ci
    import numpy as np
    paired = []
    for pair, (clean, noisy) in PAIRS.items():
        for s in sigmas:
            for k in (steps if pair != 'cnp' else [0]):  # the CNP: the same at every step count
                d = np.asarray(per[noisy, s][k]['loss'], np.float64) - np.asarray(per[clean, s][k]['loss'], np.float64)
                m, ci = _ci(d[np.isfinite(d)])
                paired.append({'pair': pair, 'clean': clean, 'noisy': noisy, 'sigma': s, 'steps': k, 'mean_diff': round(m, 5),
                               'ci95': round(ci, 5), 'noisy_better': round(float((d < 0).mean()), 4), 'n': int(np.isfinite(d).sum())})
    return {'rows': rows, 'train_noise': ctx.train_noise, 'paired': paired}


def pretrain(ctx, steps, seed=0):
    "The joint-training baseline: the same MLP trained by plain regression on points pooled from many random tasks."
    import torch
    from metamr_nb.models import build_model
    from metamr_nb.signals import make_family
    from metamr_nb.learners import make_learner
    L = ctx.learner('maml')
    cfg = L.run_config
    base = dict(cfg['source']['config'])
    F = make_family(base.pop('name'), **base)
    torch.manual_seed(seed)
    model = build_model(cfg['model'])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    import numpy as np
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        ts = F.sample(25, 10, 0, rng=rng)  # 25 tasks x 10 points, pooled: the network never knows which task a point is from
        x, y = torch.as_tensor(ts.x_support).reshape(-1, 1), torch.as_tensor(ts.y_support).reshape(-1, 1)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    return make_learner('maml', model, inner_lr=cfg['learner']['inner_lr'], inner_steps=1)


def shots_steps(ctx):
    "MSE vs K and vs inner steps for MAML, Reptile and the CNP, against a from-scratch and a jointly pretrained network."
    import torch
    from metamr_nb.models import build_model
    from metamr_nb.learners import make_learner
    from metamr_nb.inference import adaptation_curve
    from metamr_nb.signals import make_family
    L = ctx.learner('maml')
    cfg = L.run_config
    torch.manual_seed(0)
    ctx._learners['scratch'] = make_learner('maml', build_model(cfg['model']), inner_lr=cfg['learner']['inner_lr'])
    psteps = 20 if ctx.quick else 5000
    t = time.perf_counter()
    ctx._learners['pretrained'] = pretrain(ctx, psteps)
    base = {'scratch': {'what': 'the same MLP at its random initialisation (torch seed 0), adapted with the same inner SGD'},
            'pretrained': {'what': 'the same MLP trained by plain regression (MSE, Adam lr 1e-3) on 25 tasks x 10 points per step, '
                                   'points pooled across tasks, then adapted with the same inner SGD',
                           'steps': psteps, 'seconds': round(time.perf_counter() - t, 1)}}
    shots = [1, 2, 5, 10, 20] if not ctx.quick else [1, 10]
    smax = 20 if not ctx.quick else 3
    rows, curves = [], []
    b = dict(cfg['source']['config']); F = make_family(b.pop('name'), **b)
    for name in (*LEARNERS, 'scratch', 'pretrained'):
        lr = cfg['learner']['inner_lr']
        for K in shots:
            ts = eval_tasks(cfg, ctx.tasks, K, family=F)
            row = {'learner': name, 'shots': K, 'steps': stats(adaptation_curve(ctx.learner(name), ts, [0, 1, 10], lr=lr))}
            if name in ctx.runs: row['eval_command'] = (f"metamr_eval {ctx.runs[name]['path']} --tasks {ctx.tasks} --shots {K} "
                                                        f"--steps 0,1,10 --seed {SEED} --json")
            rows.append(row)
        for K in (5, 10):
            ts = eval_tasks(cfg, ctx.tasks, K, family=F)
            curves.append({'learner': name, 'shots': K,
                           'steps': stats(adaptation_curve(ctx.learner(name), ts, list(range(smax + 1)), lr=lr))})
    return {'rows': rows, 'curves': curves, 'baselines': base}


def reproduction(ctx):
    "Our MAML sinusoid-protocol numbers (results/fidelity.json) next to the published ones."
    f = Path(ctx.a.fidelity)
    fid = json.loads(f.read_text())
    shots = lambda cmd: int(cmd.split('--shots ')[1].split()[0]) if '--shots ' in cmd else None
    # a run's own scoring, then (K = 10 MAML runs) its scoring on 5-shot tasks, the paper's protocol for its table
    rows = [{'run': name, 'train_shots': shots(r['train_command']), 'shots': shots(ev['eval_command']),
             'train_command': r['train_command'].replace(str(ROOT) + '/', ''), 'eval_command': ev['eval_command'],
             'train_seconds': r.get('train_seconds'), 'steps': ev['steps']}
            for name, r in fid['runs'].items() for ev in (r, *([r['at_5_shots']] if 'at_5_shots' in r else []))]
    return {'rows': rows, 'published': PUBLISHED, 'fidelity_file': rel(f), 'fidelity_steps': fid['steps'],
            'fidelity_tasks': fid['eval_tasks'], 'fidelity_version': fid['version'],
            'fidelity_command': 'python scripts/fidelity.py'}


LEARNERS = ('maml', 'reptile', 'cnp')
NOISE_RUNS = ('maml', 'reptile', 'cnp', 'maml_short_clean', 'maml_short_noisy', 'cnp_noisy')
PAIRS = {'maml': ('maml_short_clean', 'maml_short_noisy'), 'cnp': ('cnp', 'cnp_noisy')}  # clean, noisy: same but for the noise
STUDIES = {'extrapolation': extrapolation, 'noise': noise, 'shots_steps': shots_steps, 'reproduction': reproduction}
QUESTIONS = {k: f.__doc__ for k, f in STUDIES.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--quick', action='store_true', help='tiny runs and few tasks: seconds, for the tests')
    ap.add_argument('--only', default=','.join(STUDIES), help='which studies (default: all)')
    ap.add_argument('--out', default=None, help='results folder (default: results/studies; --quick: required elsewhere)')
    ap.add_argument('--runs-dir', default=None, help='where this script trains its own runs (default: runs/studies, '
                                                     'or OUT/runs with --quick)')
    ap.add_argument('--tasks', type=int, default=None, help='evaluation tasks per condition (default: 500; --quick: 20)')
    ap.add_argument('--fidelity', default=str(ROOT/'results'/'fidelity.json'),
                    help='the fidelity results to tabulate; their MAML and Reptile K = 10 runs are the ones studied')
    a = ap.parse_args(argv)
    only = [s for s in a.only.split(',') if s]
    bad = [s for s in only if s not in STUDIES]
    if bad: ap.error(f"unknown study {bad[0]!r}; valid: {', '.join(STUDIES)}")
    if a.out is None:
        if a.quick: ap.error('--quick writes reduced results: pass --out DIR (not the saved results/studies)')
        a.out = str(ROOT/'results'/'studies')
    a.tasks = a.tasks or (20 if a.quick else 500)
    a.runs_dir = a.runs_dir or str(Path(a.out)/'runs' if a.quick else ROOT/'runs'/'studies')
    import torch, metamr_nb
    from metamr_nb.training import provenance
    torch.set_num_threads(1)
    ctx = Ctx(a)
    proto = ['--algo', 'maml', '--shots', '10', '--inner-steps', '1', '--inner-lr', '0.01', '--outer-opt', 'adam',
             '--outer-lr', '0.001', '--meta-batch', '25']
    t0 = time.perf_counter()
    if a.quick:  # tiny stand-ins for the 70,000-step runs
        small = ['--meta-batch', '5']
        ctx.train('maml', proto[:-2] + small, 20)
        ctx.train('reptile', ['--algo', 'reptile', '--shots', '10', '--inner-steps', '5', '--inner-lr', '0.01'] + small, 20)
    else:  # the very runs results/fidelity.json scored (their --out), so the studies and the fidelity page agree
        fid = json.loads(Path(a.fidelity).read_text())['runs']
        for name in ('maml', 'reptile'):
            p = ROOT/fid[f'{name}_k10']['train_command'].split('--out ')[1].split()[0]
            if not (p/'checkpoint.pt').exists(): sys.exit(f'{p} is missing: run `python scripts/fidelity.py` first')
            ctx.add_run(name, p)
    # the set encoder on the same protocol (K = 10, meta-batch 25; as many meta-steps as the MAML run)
    cnp = ['--algo', 'cnp', '--widths', '64,64', '--shots', '10', '--queries', '10', '--outer-lr', '0.001']
    big = 70000 if not a.quick else 20
    if set(only) & {'extrapolation', 'noise', 'shots_steps'}:
        ctx.train('cnp', cnp + (['--meta-batch', '5'] if a.quick else ['--meta-batch', '25']), big)
    ctx.train_noise = 0.5
    ctx.runs_noise = {'maml': 0.0, 'reptile': 0.0, 'cnp': 0.0, 'maml_short_clean': 0.0, 'maml_short_noisy': ctx.train_noise,
                      'cnp_noisy': ctx.train_noise}
    if 'noise' in only:
        n = 20 if a.quick else 5000
        opts = proto[:-2] + (['--meta-batch', '5'] if a.quick else ['--meta-batch', '25'])
        ctx.train('maml_short_clean', opts, n)
        ctx.train('maml_short_noisy', opts + ['--noise', fmt(ctx.train_noise)], n)
        ctx.train('cnp_noisy', cnp + (['--meta-batch', '5'] if a.quick else ['--meta-batch', '25'])
                  + ['--noise', fmt(ctx.train_noise)], big)
    cmd = ' '.join(['python scripts/studies.py', *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    Path(a.out).mkdir(parents=True, exist_ok=True)
    for name in only:
        t = time.perf_counter()
        body = STUDIES[name](ctx)
        used = {'extrapolation': list(LEARNERS), 'noise': list(NOISE_RUNS), 'shots_steps': list(LEARNERS),
                'reproduction': []}[name]
        d = {'study': name, 'question': QUESTIONS[name], 'command': cmd, 'seed': {'train': 0, 'eval_tasks': SEED},
             'version': metamr_nb.__version__, 'python': platform.python_version(), 'quick': a.quick, 'tasks': a.tasks,
             'runs': {k: ctx.runs[k] for k in used}, **body, 'seconds': round(time.perf_counter() - t, 1),
             'provenance': provenance(cmd)}
        check(name, d)
        (Path(a.out)/f'{name}.json').write_text(json.dumps(d, indent=1, allow_nan=True) + '\n')
        print(f'{name}: {d["seconds"]:.1f} s -> {rel(Path(a.out)/(name + ".json"))}', flush=True)
    print(f'all done in {time.perf_counter() - t0:.0f} s')


if __name__ == '__main__':
    main()
