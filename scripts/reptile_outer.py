"""Reptile's outer step on sinusoids: annealed SGD (the paper's form) against Adam, side by side.

    python scripts/reptile_outer.py [STEPS]     # default 10000 meta-steps per variant (about a minute each)

Each variant meta-trains Reptile (MLP 1-40-40-1, meta-batch 25, 5 inner steps at lr 0.01, seed 0) and
prints the mean query MSE on 500 fresh tasks (seed 1) after 1 and 10 inner steps."""
import sys, time
import torch
from metamr_nb.models import MLP
from metamr_nb.learners import Reptile
from metamr_nb.training import Trainer
from metamr_nb.inference import evaluate
from metamr_nb.signals import Sinusoid

torch.set_num_threads(1)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
test = Sinusoid().sample(500, 10, 10, seed=1)
variants = {'sgd, eps 1.0 annealed (paper)': dict(outer_opt='sgd', outer_lr=1.0, anneal_steps=steps),
            'sgd, eps 1.0 annealed, inner lr 0.02': dict(outer_opt='sgd', outer_lr=1.0, anneal_steps=steps, inner_lr=0.02),
            'adam 1e-3 (default)': dict(outer_opt='adam', outer_lr=1e-3),
            'adam 1e-3 annealed': dict(outer_opt='adam', outer_lr=1e-3, anneal_steps=steps)}
for name, kw in variants.items():
    torch.manual_seed(0)
    learner = Reptile(MLP(), **kw)
    t = time.perf_counter()
    Trainer(learner, Sinusoid(), meta_batch=25, seed=0, val_tasks=10).fit(steps)
    r = evaluate(learner, test, steps=[1, 10])
    print(f"{name:38} {time.perf_counter() - t:5.0f} s   after 1 step {r[1]['loss']:.3f} ± {r[1]['loss_ci95']:.3f}"
          f"   after 10 steps {r[10]['loss']:.3f} ± {r[10]['loss_ci95']:.3f}", flush=True)
