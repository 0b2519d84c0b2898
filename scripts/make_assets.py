"""Train the small checkpoints that ship in the package (metamr_nb/assets/) and that the lessons open with.

    python scripts/make_assets.py                  # all of them (under a minute on one core)
    python scripts/make_assets.py sinusoid_maml    # just these
    python scripts/make_assets.py --list           # what there is, with sizes
    python scripts/make_assets.py --out /tmp/a     # write somewhere else (e.g. to compare with the shipped ones)

Each asset is trained with the library's own `Trainer` from a fixed seed on one thread, so a rerun on the same
machine gives bitwise the same weights (another CPU may differ in the last bits). A shipped checkpoint keeps the
weights and the run configuration (`metamr_nb.viz.save_asset`), not the optimiser moments, so `load_run` reads
it and each file is a few kilobytes. `assets.json` next to them records, per asset, the training settings and the
query loss on 200 held-out tasks after 0, 1 and 10 inner steps. It uses the installed package (the project's .venv has
it installed in editable mode, so `.venv/bin/python scripts/make_assets.py` trains with this tree's code)."""
import argparse, json, os, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault('OMP_NUM_THREADS', '1')

import torch
torch.set_num_threads(1)

from metamr_nb.models import MLP
from metamr_nb.registry import make_learner
from metamr_nb.signals import Sinusoid
from metamr_nb.training import Trainer
from metamr_nb.inference import evaluate

# the shape lesson's ConvNet (kinds_convnet's settings): the shape-kinds protocol's pretrained baseline at its long
# budget (10,000 steps of 400 images, as results/shape_kinds_long.json), then fine-tuning settings chosen on 100
# validation tasks of the meta-train kinds. About 25 minutes of training on one quiet core; run it once, not in tests.
CONVNET = dict(steps=10_000, hidden=16, batch=400, val_tasks=100, inner_steps=(1, 5, 10, 25))

SIN = dict(family=Sinusoid.maml, model=lambda: MLP(), meta_batch=25, shots=10, queries=10)

# name -> how to train it: the family, the model, the learner (algorithm and settings) and the trainer's settings
SPECS = {
    'sinusoid_maml':       dict(SIN, algo='maml', settings={}, steps=3000),
    'sinusoid_fomaml':     dict(SIN, algo='fomaml', settings={}, steps=3000),
    'sinusoid_reptile':    dict(SIN, algo='reptile', settings=dict(inner_steps=5, outer_opt='sgd', outer_lr=1.0, anneal_steps=3000), steps=3000),
    # joint pre-training is meta-learning with no inner step: the best single curve for all tasks at once
    'sinusoid_pretrained': dict(SIN, algo='fomaml', settings=dict(inner_steps=0), steps=1500),
}


def specs():
    "Every asset: the sinusoid starts and the two shape learners."
    from metamr_nb.shapes import InsideOutside, ShapeKinds
    from metamr_nb.cnp import SetEncoderModel
    from metamr_nb.shape_app import kinds_convnet
    return {**SPECS,
        # is this point inside the shape? an MLP on (x, y), 20 balanced points per task
        'shapes_inside_maml': dict(family=lambda: InsideOutside(balance=True), model=lambda: MLP(d_in=2, widths=(40, 40), d_out=1),
                                   algo='maml', settings=dict(loss='bce', inner_steps=5, inner_lr=0.5), steps=600,
                                   meta_batch=16, shots=20, queries=20),
        # what kind of shape is this? 5-way 1-shot, an MLP on 16x16 pixels, scored on the held-out kinds
        'shapes_kinds_maml': dict(family=lambda: ShapeKinds(ways=5, image_size=16), model=lambda: MLP(d_in=256, widths=(32, 32), d_out=5),
                                  algo='maml', settings=dict(loss='ce', inner_steps=3, inner_lr=0.2), steps=800,
                                  meta_batch=8, shots=1, queries=5,
                                  eval_family=lambda: ShapeKinds(ways=5, split='test', image_size=16), eval_steps=(0, 1, 3)),
        # the set encoder of lesson 7: a CNP on (x, y) points, trained on a random 1..20 of them as context
        'sinusoid_cnp': dict(family=Sinusoid.maml, model=lambda: SetEncoderModel(widths=(64, 64), r_dim=64), algo='cnp',
                             settings=dict(outer_lr=3e-3), steps=4000, meta_batch=25, shots=20, queries=20, eval_steps=(0,)),
        # what kind of shape is this? a ConvNet trained as one classifier of the 22 meta-train kinds under a zero 5-way
        # head (the shape-kinds protocol's pretrained baseline, shape_app.kinds_convnet), scored 5-way 5-shot on held-out kinds
        'shapes_kinds_convnet': dict(family=lambda: ShapeKinds(ways=5), make=lambda: kinds_convnet(**CONVNET), algo='maml',
                                     settings={}, steps=CONVNET['steps'], meta_batch=8, shots=5, queries=5,
                                     eval_family=lambda: ShapeKinds(ways=5, split='test'), eval_steps=(0, 1, 5, 10, 25)),
    }


def train(name: str, spec: dict, seed: int = 0):
    "Train one asset; returns the trainer (for an asset trained by its own recipe, `make`, a trainer at step 0 around it)."
    if 'make' in spec:
        learner, recipe = spec['make']()
        return Trainer(learner, spec['family'](), meta_batch=spec['meta_batch'], shots=spec['shots'], queries=spec['queries'],
                       seed=seed, config={'asset': name, 'made_by': 'scripts/make_assets.py', 'recipe': recipe})
    torch.manual_seed(seed)
    learner = make_learner(spec['algo'], spec['model'](), **spec['settings'])
    tr = Trainer(learner, spec['family'](), meta_batch=spec['meta_batch'], shots=spec['shots'], queries=spec['queries'],
                 seed=seed, config={'asset': name, 'made_by': 'scripts/make_assets.py'})
    tr.fit(spec['steps'])
    return tr


def score(trainer, spec, steps=(0, 1, 10)):
    "Query loss (and accuracy) on 200 held-out tasks (their own seed) after 0, 1 and 10 inner steps (or `eval_steps`)."
    fam = spec.get('eval_family', spec['family'])()
    tasks = fam.sample(200, spec['shots'], spec['queries'] if 'eval_family' in spec else 50, seed=20_26)
    return {str(s): {k: round(v, 4) for k, v in r.items() if k in ('loss', 'acc')}
            for s, r in evaluate(trainer.learner, tasks, steps=spec.get('eval_steps', steps)).items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('names', nargs='*', help='assets to make (default: all)')
    p.add_argument('--out', default=str(ROOT/'metamr_nb'/'assets'), help='folder to write (default: metamr_nb/assets)')
    p.add_argument('--list', action='store_true', help='list the assets and exit')
    a = p.parse_args(argv)
    from metamr_nb.viz import save_asset
    from metamr_nb.training import provenance
    out, all_specs = Path(a.out), specs()
    if a.list:
        for n in all_specs:
            f = out/f'{n}.pt'
            print(f"{n:24} {f.stat().st_size/1024:6.1f} kB" if f.exists() else f'{n:24}   (not made)')
        return 0
    bad = [n for n in a.names if n not in all_specs]
    if bad: raise SystemExit(f'make_assets: unknown asset(s) {bad}; valid: {list(all_specs)}')
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out/'assets.json'
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    t_all = time.perf_counter()
    # where the code stands, taken before anything is written: the assets this run writes are tracked files under
    # metamr_nb/, and a stamp taken after writing the first one would call the tree dirty
    stamp = {name: provenance(['python', 'scripts/make_assets.py', name]) for name in (a.names or list(all_specs))}
    for name in (a.names or list(all_specs)):
        spec = all_specs[name]
        t0 = time.perf_counter()
        tr = train(name, spec)
        save_asset(tr, out/f'{name}.pt')
        ev = score(tr, spec)
        manifest[name] = {'algo': spec['algo'], 'settings': spec['settings'] or tr.learner.config, 'steps': spec['steps'],
                          'meta_batch': spec['meta_batch'], 'shots': spec['shots'], 'queries': spec['queries'], 'seed': 0,
                          'family': tr.run_config()['source'].get('config'),
                          'model': tr.learner.model.config, 'query_after_steps': ev,
                          **({'recipe': tr.config['recipe']} if 'recipe' in tr.config else {}),
                          'provenance': stamp[name]}
        print(f'{name:24} {spec["steps"]:5} steps {time.perf_counter() - t0:5.1f}s  '
              f'{(out/f"{name}.pt").stat().st_size/1024:5.1f} kB  after steps {ev}', flush=True)
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + '\n')
    total = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f'make_assets: done in {time.perf_counter() - t_all:.1f}s; {out} holds {total/1024:.1f} kB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
