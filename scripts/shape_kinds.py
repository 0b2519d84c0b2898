"""What kind of shape is this? Reptile, first-order MAML, MAML and the image set encoder (CNP) on 5-way shape-kind
images, scored on held-out kinds against two baselines: a network trained from scratch on the support set, and a jointly pretrained one fine-tuned on it.

    python scripts/shape_kinds.py                         # the full comparison (slow), writes results/shape_kinds.json
    python scripts/shape_kinds.py --shots 1 --train-only  # train the 1-shot runs only (run 1 and 5 side by side on 2 cores)
    python scripts/shape_kinds.py --quick --out /tmp/sk   # a reduced version in seconds: what the test suite runs
    python scripts/shape_kinds.py --shots 5 --learners cnp,maml,maml0 --steps 2500 --pre-steps 10000 --pretrained-start \
        --runs-dir runs/shape_kinds_pre --out results/shape_kinds_pre.json --threads 2   # meta-train from the pretrained net
    python scripts/shape_kinds.py --shots 5 --learners cnp,maml0 --seed 1 --steps 2500 --pre-steps 10000 --pretrained-start \
        --runs-dir runs/shape_kinds_pre --out results/shape_kinds_pre_seed1.json --threads 2   # ... with a second seed

Meta-training uses `metamr_train` (called in-process; each run stores its exact command) on the 22 meta-train kinds;
finished runs in runs/shape_kinds/ are reused. Every learner is then scored with `evaluate` — what
`metamr_eval RUN --split test --json` computes — on the same fresh tasks of the 10 held-out kinds (task seed 1),
after several numbers of inner SGD steps. The baselines:
- scratch: the same ConvNet at its random initialisation, adapted by SGD on the support set;
- pretrained: the same ConvNet trained by plain cross-entropy on all 22 meta-train kinds at once (a 22-way classifier
  seeing as many images as a meta-learner), its head replaced by a zero 5-way head, then fine-tuned by SGD on the
  support set.
With --pretrained-start the meta-learners start from the pretrained network's conv blocks (`metamr_train --init-from`),
and the pretrained baseline goes on training for as many steps (--steps) on as many images, so both sides stay equal.
Every learner's number of inner steps (from --eval-steps), and each baseline's step size (from a small grid), is
chosen on validation tasks of the meta-train kinds — never on the held-out ones — and the comparison is made at that
choice; the test scores after every step count are saved too."""
import argparse, contextlib, io, json, math, platform, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from metamr_nb.runs import EVAL_SEED as SEED  # the evaluation tasks' seed (metamr_eval's default); training uses --seed (0)

# learner -> metamr_train options (beyond family, shots, size); the inner step sizes are the MAML Omniglot ones (0.4)
# for one step and a smaller one for Reptile's five
LEARNERS = {'fomaml': ['--algo', 'fomaml', '--inner-steps', '1', '--inner-lr', '0.4'],
            'reptile': ['--algo', 'reptile', '--inner-steps', '5', '--inner-lr', '0.1'],
            'maml': ['--algo', 'maml', '--inner-steps', '1', '--inner-lr', '0.4'],
            # MAML whose head starts at zero (metamr_train --zero-head): with --pretrained-start, the first inner step
            # is a nearest-class-mean classifier on the pretrained features instead of a random head's noise
            'maml0': ['--algo', 'maml', '--inner-steps', '1', '--inner-lr', '0.4', '--zero-head'],
            # the set encoder on the same conv blocks: a mean per class, no inner loop (its "steps" change nothing)
            'cnp': ['--algo', 'cnp', '--widths', '64,64']}
BASE_LRS = (0.03, 0.1, 0.3)  # the baselines' step-size grid
FLAGS = ('zero_head',)  # metamr_train switches (no value) that a reused run must match


def rel(p):
    p = str(p)
    return str(Path(p).relative_to(ROOT)) if p.startswith(str(ROOT)) else p


def train_run(a, name, shots, extra=()):
    "Train (or reuse, or finish) one meta-learning run with `metamr_train` (`extra`: more options); returns (folder, record)."
    from metamr_nb.cli import train_main
    from metamr_nb.training import load_checkpoint
    out = Path(a.runs_dir)/(f'{name}_{shots}shot' + (f'_seed{a.seed}' if a.seed else ''))
    cmd = ['--family', 'shape_kinds', '--ways', str(a.ways), '--shots', str(shots), '--queries', str(a.queries),
           *LEARNERS[name], *extra, '--hidden', str(a.hidden), '--meta-batch', str(a.meta_batch), '--outer-lr', '0.001',
           '--steps', str(a.steps), '--seed', str(a.seed), '--eval-every', '0', '--quiet', '--out', str(out)]
    t, started = time.perf_counter(), (out/'checkpoint.pt').exists()
    if started: check_settings(out, cmd, a.steps)
    done = started and load_checkpoint(out)['step'] >= a.steps
    if not done:
        args = ['--resume', '--steps', str(a.steps), '--quiet', '--out', str(out)] if started else cmd
        with contextlib.redirect_stdout(io.StringIO()): train_main(args)
    return out, {'path': rel(out), 'train_command': ' '.join(['metamr_train', *map(rel, cmd)]),
                 'train_seconds': None if done else round(time.perf_counter() - t, 1), 'reused': done,
                 'resumed': started and not done}


def check_settings(out, cmd, steps):
    "Refuse to reuse the run in `out` unless it was made by `cmd` (the folder name does not hold every setting)."
    stored = json.loads((out/'config.json').read_text())
    cli, fam = stored['cli'], stored['source'].get('config', {})
    opts = {k[2:].replace('-', '_'): v for k, v in zip(cmd, cmd[1:]) if k.startswith('--') and not v.startswith('--')}
    flags = {'--' + k.replace('_', '-'): bool(cli.get(k)) for k in FLAGS}  # switch -> did the stored run have it
    diff = [f"{f} {'given' if had else 'not given'} (it is {'not ' if had else ''}given now)" for f, had in flags.items() if had != (f in cmd)]
    for k, v in opts.items():
        if k in ('out', 'steps'): continue
        have = cli.get(k, fam.get(k))
        if have is None and k != 'init_from': continue  # a setting older runs did not store (no --init-from: a fresh start)
        if isinstance(have, list): have = ','.join(map(str, have))
        try: same = float(have) == float(v)
        except (TypeError, ValueError): same = str(have) == v
        if not same: diff.append(f'--{k.replace("_", "-")} {have} (not {v})')
    if diff: sys.exit(f'{out} holds a run with other settings: {"; ".join(diff)}; move it away or pass another --runs-dir')
    from metamr_nb.training import load_checkpoint
    if load_checkpoint(out)['step'] > steps:
        sys.exit(f"{out} is at step {load_checkpoint(out)['step']}, beyond --steps {steps}; pass --steps to match it")


def _classify(model, kinds, batch, steps, seed):
    "Train `model` as one classifier of `kinds` (cross-entropy, a fresh Adam at lr 1e-3), `batch` images per step."
    import numpy as np, torch
    from metamr_nb.shapes import ShapeKinds, kind_index
    fam = ShapeKinds(ways=len(kinds), split='train')   # one "task" = images of every training kind, labels = kind order
    rng, opt = np.random.default_rng(seed), torch.optim.Adam(model.parameters(), lr=1e-3)
    pos = {kind_index(k): i for i, k in enumerate(kinds)}  # a kind's index -> its fixed label
    per = max(1, batch//len(kinds))
    for _ in range(steps):
        ts = fam.sample(1, per, 0, rng=rng)
        lab = np.array([pos[c] for c in ts.params['classes'][0]])  # a task's label j is kind classes[j]: relabel by kind
        x = torch.as_tensor(ts.x_support[0]); y = torch.as_tensor(lab[ts.y_support[0, :, 0]])
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    return round(loss.item(), 4)


def pretrain(a, more:int=0):
    """The joint-training baseline's 22-way ConvNet (reused from the runs folder when it exists): (model, record).
    `more` > 0: then trained `more` steps further (a fresh optimiser, another stream of images), as the meta-learners are
    when they start from it (--pretrained-start), so that both sides see as many images."""
    import torch
    from metamr_nb.models import ConvNet
    from metamr_nb.shapes import split_kinds
    kinds = split_kinds('train')
    torch.manual_seed(0)
    model = ConvNet(len(kinds), hidden=a.hidden)
    # a step sees as many images as a meta-step: meta-batch × N × (K + Q) at the larger K
    batch = a.meta_batch*a.ways*(max(a.shots) + a.queries)
    path = Path(a.runs_dir)/f'pretrained_h{a.hidden}_b{batch}_{a.pre_steps}.pt'
    rec = {'what': f'ConvNet trained as one {len(kinds)}-way classifier of the meta-train kinds (cross-entropy, Adam lr 1e-3), '
                   f'{batch} images per step; head replaced by a zero {a.ways}-way head before fine-tuning',
           'steps': a.pre_steps, 'batch': batch, 'path': rel(path)}
    if path.exists():
        model.load_state_dict(torch.load(path, weights_only=True)); rec.update(seconds=None, reused=True)
    else:
        t = time.perf_counter()
        rec['final_train_loss'] = _classify(model, kinds, batch, a.pre_steps, seed=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
        rec.update(seconds=round(time.perf_counter() - t, 1), reused=False)
    if more:
        path2 = path.with_name(f'{path.stem}+{more}.pt')
        rec['more'] = {'steps': more, 'path': rel(path2), 'what': f'then {more} more steps from it (a fresh Adam, another image stream)'}
        if path2.exists(): model.load_state_dict(torch.load(path2, weights_only=True)); rec['more'].update(seconds=None, reused=True)
        else:
            t = time.perf_counter()
            rec['more']['final_train_loss'] = _classify(model, kinds, batch, more, seed=1)
            torch.save(model.state_dict(), path2)
            rec['more'].update(seconds=round(time.perf_counter() - t, 1), reused=False)
    return model, rec


def baseline(a, kind, pre, lr):
    "A learner that adapts the baseline `kind` ('scratch' or 'pretrained') by SGD at step size `lr`."
    import torch
    from metamr_nb.models import ConvNet
    from metamr_nb.learners import make_learner
    from metamr_nb.training import zero_head
    torch.manual_seed(0)
    m = ConvNet(a.ways, hidden=a.hidden)
    if kind == 'pretrained':
        sd = {k: v for k, v in pre.state_dict().items() if not k.startswith('head.')}
        m.load_state_dict(sd, strict=False)
        zero_head(m)
    return make_learner('maml', m, loss='ce', inner_lr=lr, inner_steps=1)


def scores(ev):
    "evaluate()'s result, rounded, per step count."
    r5 = lambda v: round(v, 5) if isinstance(v, float) and math.isfinite(v) else v
    return {str(s): {k: r5(v) for k, v in r.items()} for s, r in ev.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--shots', default='1,5', help='K values, comma-separated (default: 1,5)')
    ap.add_argument('--learners', default=','.join(LEARNERS), help=f"meta-learners (default: {','.join(LEARNERS)})")
    ap.add_argument('--steps', type=int, default=2500, help='meta-steps per run (default: 2500)')
    ap.add_argument('--pre-steps', type=int, default=2000, help='steps of the pretrained baseline (default: 2000)')
    ap.add_argument('--meta-batch', type=int, default=8, help='tasks per meta-step (default: 8)')
    ap.add_argument('--hidden', type=int, default=16, help='ConvNet channels (default: 16)')
    ap.add_argument('--ways', type=int, default=5, help='N-way (default: 5)')
    ap.add_argument('--queries', type=int, default=5, help='query images per class (default: 5)')
    ap.add_argument('--tasks', type=int, default=300, help='held-out evaluation tasks (default: 300)')
    ap.add_argument('--val-tasks', type=int, default=100, help='validation tasks (meta-train kinds) that choose step counts and sizes')
    ap.add_argument('--eval-steps', default='0,1,5,10,25', help='inner step counts to score (default: 0,1,5,10,25)')
    ap.add_argument('--threads', type=int, default=1, help='torch threads for the evaluation (default: 1; training uses 1)')
    ap.add_argument('--pretrained-start', action='store_true',
                    help="meta-learners start from the pretrained baseline's network (metamr_train --init-from: its conv "
                         "blocks), and the baseline trains --steps more steps too, so both sides see as many images")
    ap.add_argument('--seed', type=int, default=0, help="the meta-learners' training seed (default: 0; another seed trains "
                    "runs of its own, NAME_Kshot_seedS; the baselines and the evaluation tasks stay the same)")
    ap.add_argument('--train-only', action='store_true', help='train the runs and stop (to train several K side by side)')
    ap.add_argument('--quick', action='store_true', help='tiny runs and few tasks: seconds, for the tests')
    ap.add_argument('--out', default=None, help='results file (default: results/shape_kinds.json; --quick: required elsewhere)')
    ap.add_argument('--runs-dir', default=None, help='run folders (default: runs/shape_kinds; --quick: next to --out)')
    a = ap.parse_args(argv)
    if a.out is None:
        if a.quick: ap.error('--quick writes reduced results: pass --out FILE (not the saved results/shape_kinds.json)')
        a.out = str(ROOT/'results'/'shape_kinds.json')
    if a.quick: a.steps, a.pre_steps, a.meta_batch, a.hidden, a.tasks, a.val_tasks, a.eval_steps = 3, 3, 2, 4, 6, 4, '0,1,2'
    a.runs_dir = a.runs_dir or (str(Path(a.out).parent/'runs') if a.quick else str(ROOT/'runs'/'shape_kinds'))
    try: a.shots = [int(k) for k in a.shots.split(',')]
    except ValueError: ap.error(f'--shots takes whole numbers like 1,5, got {a.shots!r}')
    learners = [n for n in a.learners.split(',') if n]
    bad = [n for n in learners if n not in LEARNERS]
    if bad: ap.error(f"unknown learner {bad[0]!r}; valid: {', '.join(LEARNERS)}")
    steps = sorted({int(s) for s in a.eval_steps.split(',')})
    import torch, metamr_nb
    from metamr_nb.shapes import ShapeKinds
    from metamr_nb.inference import load_run, evaluate
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    extra, first = (), None
    if a.pretrained_start:  # the meta-learners start where the pretrained baseline stands after --pre-steps
        first = pretrain(a)[1]
        extra = ('--init-from', str(ROOT/first['path']))
    runs = {f'{n}/{K}': train_run(a, n, K, extra) for K in a.shots for n in learners}
    if a.train_only:
        for k, (_, r) in runs.items(): print(k, r['train_seconds'], 's', flush=True)
        return
    pre, pre_rec = pretrain(a, more=a.steps if a.pretrained_start else 0)
    if first and not first['reused']:  # trained just above: keep that record of it
        pre_rec.update({k: v for k, v in first.items() if k in ('seconds', 'reused', 'final_train_loss')})
    torch.set_num_threads(a.threads)
    from metamr_nb.training import provenance
    cmd = 'python scripts/shape_kinds.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    res = {'version': metamr_nb.__version__, 'python': platform.python_version(), 'torch': torch.__version__,
           'command': cmd, 'provenance': provenance(cmd),
           'quick': a.quick, 'ways': a.ways, 'queries': a.queries, 'hidden': a.hidden, 'meta_batch': a.meta_batch,
           'meta_steps': a.steps, 'seed': a.seed, 'pretrained_start': a.pretrained_start, 'tasks': a.tasks, 'eval_seed': SEED, 'eval_steps': steps, 'baseline_lrs': list(BASE_LRS),
           'pretrained': pre_rec, 'runs': {}, 'results': []}
    test_fam, val_fam = ShapeKinds(ways=a.ways, split='test'), ShapeKinds(ways=a.ways, split='train')
    for K in a.shots:
        test = test_fam.sample(a.tasks, K, a.queries, seed=SEED)
        val = val_fam.sample(a.val_tasks, K, a.queries, seed=SEED + 1)
        def report(r, ev):
            c = r['chosen_steps']
            print(f"{K}-shot {r['learner']:10s} lr {r['inner_lr']:g}, {c} step(s) chosen on validation: "
                  f"acc {ev[c]['acc']:.3f} ± {ev[c]['acc_ci95']:.3f}", flush=True)
        for n in learners:
            path, rec = runs[f'{n}/{K}']
            L = load_run(path)
            res['runs'][f'{n}/{K}'] = rec
            t = time.perf_counter()
            va = {s: r['acc'] for s, r in evaluate(L, val, steps=steps).items()}
            ev = evaluate(L, test, steps=steps)
            r = {'learner': n, 'shots': K, 'kind': 'meta', 'inner_lr': L.inner_lr, 'trained_steps': L.inner_steps,
                 'val_acc': {str(s): round(v, 4) for s, v in va.items()}, 'chosen_steps': max(va, key=va.get),
                 'eval_command': f"metamr_eval {rec['path']} --split test --tasks {a.tasks} --shots {K} "
                                 f"--queries {a.queries} --steps {','.join(map(str, steps))} --seed {SEED} --json",
                 'eval_seconds': round(time.perf_counter() - t, 1), 'steps': scores(ev)}
            res['results'].append(r); report(r, ev)
        for kind in ('scratch', 'pretrained'):
            # step size and step count: the best validation accuracy on meta-train kinds
            va = {(lr, s): r['acc'] for lr in BASE_LRS for s, r in evaluate(baseline(a, kind, pre, lr), val, steps=steps).items()}
            lr, best = max(va, key=va.get)
            ev = evaluate(baseline(a, kind, pre, lr), test, steps=steps)
            r = {'learner': kind, 'shots': K, 'kind': 'baseline', 'inner_lr': lr, 'chosen_steps': best,
                 'val_acc': {f'{l:g}/{s}': round(v, 4) for (l, s), v in va.items()}, 'steps': scores(ev)}
            res['results'].append(r); report(r, ev)
    # the verdict per K: each meta-learner against each baseline, each at its validation-chosen step count
    res['verdicts'] = []
    for K in a.shots:
        rs = [r for r in res['results'] if r['shots'] == K]
        for m in (r for r in rs if r['kind'] == 'meta'):
            mv = m['steps'][str(m['chosen_steps'])]
            for b in (r for r in rs if r['kind'] == 'baseline'):
                bv = b['steps'][str(b['chosen_steps'])]
                res['verdicts'].append({'shots': K, 'learner': m['learner'], 'baseline': b['learner'],
                                        'acc': mv['acc'], 'acc_ci95': mv['acc_ci95'], 'baseline_acc': bv['acc'],
                                        'baseline_ci95': bv['acc_ci95'],
                                        'separated': mv['acc'] - mv['acc_ci95'] > bv['acc'] + bv['acc_ci95'],
                                        'baseline_better': bv['acc'] - bv['acc_ci95'] > mv['acc'] + mv['acc_ci95']})
    res['seconds'] = round(time.perf_counter() - t0, 1)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
    print(f'wrote {rel(a.out)} in {res["seconds"]:.0f} s')


def check(d):
    "Raise AssertionError if `d` (results/shape_kinds.json) does not have the shape `main` writes."
    assert {'command', 'version', 'runs', 'results', 'verdicts', 'pretrained', 'tasks', 'eval_steps'} <= set(d), sorted(d)
    assert d['command'].startswith('python scripts/shape_kinds.py')
    for r in d['runs'].values(): assert r['train_command'].startswith('metamr_train --family shape_kinds'), r
    if d.get('pretrained_start'):  # both sides go on from the pretrained network for the same number of steps
        assert d['pretrained']['more']['steps'] == d['meta_steps'], d['pretrained']
        assert all(f"--init-from {d['pretrained']['path']}" in r['train_command'] for r in d['runs'].values()), d['runs']
    kinds = {(r['learner'], r['shots']) for r in d['results']}
    for K in {r['shots'] for r in d['results']}:
        assert {('scratch', K), ('pretrained', K)} <= kinds, f'{K}-shot baselines missing'
    for r in d['results']:
        assert set(r['steps']) == {str(s) for s in d['eval_steps']}, r['steps'].keys()
        for v in r['steps'].values(): assert {'acc', 'acc_ci95', 'loss', 'loss_ci95'} <= set(v) and 0 <= v['acc'] <= 1, v
        # the compared step count is the validation argmax (for a baseline, over its step sizes too)
        best = max(r['val_acc'].values())
        chosen = [k for k, v in r['val_acc'].items() if v == best]
        key = f"{r['inner_lr']:g}/{r['chosen_steps']}" if r['kind'] == 'baseline' else str(r['chosen_steps'])
        assert key in chosen, (r['learner'], r['shots'], key, chosen)
    res = {(r['learner'], r['shots']): r for r in d['results']}
    metas = [r for r in d['results'] if r['kind'] == 'meta']
    assert len(d['verdicts']) == 2*len(metas), 'one verdict per meta-learner and baseline'
    for v in d['verdicts']:
        m, b = res[v['learner'], v['shots']]['steps'], res[v['baseline'], v['shots']]['steps']
        m, b = m[str(res[v['learner'], v['shots']]['chosen_steps'])], b[str(res[v['baseline'], v['shots']]['chosen_steps'])]
        assert (v['acc'], v['acc_ci95'], v['baseline_acc'], v['baseline_ci95']) == (m['acc'], m['acc_ci95'], b['acc'], b['acc_ci95'])
        assert v['separated'] == (v['acc'] - v['acc_ci95'] > v['baseline_acc'] + v['baseline_ci95'])
        assert v['baseline_better'] == (v['baseline_acc'] - v['baseline_ci95'] > v['acc'] + v['acc_ci95'])


if __name__ == '__main__':
    main()
