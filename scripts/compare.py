"""Reptile, MAML and the set encoder (CNP) on sinusoid regression and inside/outside shapes, under one budget.

    python scripts/compare.py                  # 1000 meta-steps of 25 tasks per run, writes results/compare.json
    python scripts/compare.py --steps 300      # a quick version

Every run sees the same number of tasks (steps × meta-batch) from the same seeded task stream; its wall time and
CPU time are recorded. Scores come from `evaluate` on held-out tasks (seed 1): query MSE for sinusoid (of the
predicted mean for the CNP), binary cross-entropy and accuracy for inside/outside, each with a 95% interval."""
import argparse, json, platform, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from metamr_nb.models import MLP
from metamr_nb.learners import make_learner
from metamr_nb.cnp import SetEncoderModel, CNP
from metamr_nb.signals import Sinusoid
from metamr_nb.shapes import InsideOutside
from metamr_nb.training import Trainer, Recorder
from metamr_nb.inference import evaluate

# name -> (family, K, Q, {learner name: (factory, settings as stored)})
SETUPS = {
    'sinusoid': (lambda: Sinusoid(), 10, 10, {
        'maml': lambda: make_learner('maml', MLP(1, (40, 40), 1), inner_lr=0.01, inner_steps=1, outer_lr=1e-3),
        'reptile': lambda: make_learner('reptile', MLP(1, (40, 40), 1), inner_lr=0.01, inner_steps=5, outer_lr=1e-3),
        'cnp': lambda: CNP(SetEncoderModel(1, 1, (64, 64), r_dim=64), outer_lr=3e-3)}),
    'inside': (lambda: InsideOutside(balance=True), 20, 20, {
        'maml': lambda: make_learner('maml', MLP(2, (40, 40), 1), loss='bce', inner_lr=0.5, inner_steps=1, outer_lr=3e-3),
        'reptile': lambda: make_learner('reptile', MLP(2, (40, 40), 1), loss='bce', inner_lr=0.5, inner_steps=5, outer_lr=3e-3),
        'cnp': lambda: CNP(SetEncoderModel(2, 1, (64, 64), r_dim=64, likelihood='bernoulli'), outer_lr=3e-3)}),
}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=1000, help="meta-steps per run (default: 1000)")
    ap.add_argument('--meta-batch', type=int, default=25, help='tasks per meta-step (default: 25)')
    ap.add_argument('--tasks', type=int, default=500, help='held-out evaluation tasks (default: 500)')
    ap.add_argument('--out', default=str(ROOT/'results'/'compare.json'), help='results file (default: results/compare.json)')
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    import metamr_nb
    from metamr_nb.training import provenance
    cmd = 'python scripts/compare.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    res = {'version': metamr_nb.__version__, 'python': platform.python_version(), 'torch': torch.__version__,
           'command': cmd, 'provenance': provenance(cmd),
           'steps': a.steps, 'meta_batch': a.meta_batch, 'tasks_seen': a.steps*a.meta_batch, 'eval_tasks': a.tasks,
           'runs': {}}
    for setup, (mkfam, K, Q, learners) in SETUPS.items():
        fam = mkfam()
        test = fam.sample(a.tasks, K, Q, seed=1)
        for name, mk in learners.items():
            torch.manual_seed(0)
            ln, rec = mk(), Recorder()
            tr = Trainer(ln, fam, meta_batch=a.meta_batch, shots=K, queries=Q, seed=0, eval_every=max(1, a.steps//10),
                         val_tasks=100, callbacks=[rec])
            t0, c0 = time.perf_counter(), time.process_time()
            tr.fit(a.steps)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0  # includes the 10 validation passes
            steps = (0,) if name == 'cnp' else (0, ln.inner_steps, 10)
            ev = evaluate(ln, test, steps=steps)
            res['runs'][f'{setup}/{name}'] = {
                'setup': setup, 'learner': name, 'K': K, 'Q': Q, 'config': ln.config, 'model': ln.model.config,
                'params': sum(p.numel() for p in ln.model.parameters()), 'train_wall_s': round(wall, 2),
                'train_cpu_s': round(cpu, 2), 'val_curve': [[e['step'], e['val_loss']] for e in rec.evals],
                'eval': {str(s): r for s, r in ev.items()}}
            r = ev[steps[1] if len(steps) > 1 else 0]
            print(f"{setup:9s} {name:8s} {wall:6.1f} s  loss {r['loss']:.4f} ± {r['loss_ci95']:.4f}"
                  + (f"  acc {r['acc']:.4f} ± {r['acc_ci95']:.4f}" if 'acc' in r else ''), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1) + '\n')
    print(f'wrote {a.out}')

if __name__ == '__main__': main()
