"""The lessons' "things to try", each one tried on the app it names: what the student reads must be a readable number
or "diverged at step k", never NaN, infinity or a 30-digit number."""
import re
import numpy as np
import pytest

NUMBER = r'\d{1,6}\.\d{3}'  # what fmt_loss prints for a loss below its DIVERGED threshold
PART = re.compile(rf'^[^:]+: (?:{NUMBER}|diverged at step \d+)$')


def _check(score: str):
    head, _, parts = score.partition(' — ')
    assert head.startswith('query MSE after'), score
    for part in parts.split(' · '):
        assert PART.match(part), (part, score)
    assert not re.search(r'nan|inf|e\+', score, re.I), score


def _app(module, name):
    "A lesson's app (`name` from `metamr_nb.<module>`) with a tiny live training, on one thread; closed after the module's tests."
    import importlib, torch
    torch.set_num_threads(1)
    a = getattr(importlib.import_module(f'metamr_nb.{module}'), name)(train_steps=10, redraw_every=5)
    yield a
    a.close()


@pytest.fixture(scope='module')
def app(): yield from _app('sinusoid_app', 'SinusoidApp')


# the sinusoid lesson's suggestions (nbs/tutorials/sinusoid_adaptation.ipynb, "Things to try"), as slider settings
TRIES = {'inner steps = 0': dict(steps=0), 'K = 2': dict(shots=2), 'K = 3': dict(shots=3), 'noise 0.5': dict(noise=0.5),
         'inner lr 0.1': dict(lr=0.1), 'inner lr at its end': dict(lr=10**-0.5, steps=40),
         'safeguard at the largest lr': dict(lr=10**-0.5, steps=40, safeguard=True)}


@pytest.mark.parametrize('name', list(TRIES))
def test_sinusoid_things_to_try_read_well(app, name):
    defaults = dict(steps=10, shots=10, noise=0.0, lr=0.01, safeguard=False)
    with app.hold():
        for k, v in {**defaults, **TRIES[name]}.items(): getattr(app, k).value = v
    _check(app.score.value)
    if name == 'safeguard at the largest lr': assert 'diverged' not in app.score.value, app.score.value


def test_the_largest_lr_diverges_without_the_safeguard_and_says_where(app):
    "The case the safeguard exists for: at the slider's end, plain SGD diverges, and the score names the step."
    with app.hold():
        for k, v in dict(steps=40, shots=10, noise=0.0, lr=10**-0.5, safeguard=False).items(): getattr(app, k).value = v
    assert re.search(r'diverged at step \d+', app.score.value), app.score.value


def test_sinusoid_points_on_one_side(app):
    "'Points on one side': the points with x > 0 removed one by one (as clicks do); the score still reads well."
    with app.hold():
        for k, v in dict(steps=10, shots=10, noise=0.0, lr=0.01, safeguard=False).items(): getattr(app, k).value = v
    xs = app.support()[0][:, 0]
    right = sorted(np.flatnonzero(xs > 0), reverse=True)  # from the last, so the indices left stay valid
    assert 0 < len(right) < len(xs), xs  # the lesson's task has points on both sides (else the suggestion says nothing)
    try:
        for i in right: app.remove_point(int(i))
        left = app.support()[0][:, 0]
        assert len(left) == len(xs) - len(right) and (left <= 0).all(), left
        assert app.points.value.startswith(f'support: {len(left)} point'), app.points.value
        _check(app.score.value)
    finally: app._retask()  # back to the task's sampled points for the module's other tests


SHAPE_TRIES = {'inside, 0 steps': dict(mode='inside', steps=0), 'K = 4': dict(mode='inside', shots=4),
               'K = 60': dict(mode='inside', shots=60), 'ring': dict(mode='inside', kind='ring'),
               'crescent': dict(mode='inside', kind='crescent'), 'what kind?, K = 1': dict(mode='kinds', image_shots=1),
               'what kind?, K = 5': dict(mode='kinds', image_shots=5), 'meta-train kinds': dict(mode='kinds', split='train'),
               'inside, the largest lr': dict(mode='inside', steps=20, lr=10**0.3)}


@pytest.fixture(scope='module')
def shapes(): yield from _app('shape_app', 'ShapeApp')


@pytest.mark.parametrize('name', list(SHAPE_TRIES))
def test_shape_things_to_try_read_well(shapes, name):
    "The shape lesson's suggestions: its score line is accuracies in percent, never NaN or infinity."
    settings = dict(SHAPE_TRIES[name])
    with shapes.hold():
        shapes.mode.value = settings.pop('mode')
        for k, v in settings.items(): getattr(shapes, k).value = v
    s = shapes.score.value
    assert s and not re.search(r'nan|inf|e\+', s, re.I), s
    assert re.search(r'\d+(\.\d+)?\s?%', s), s


# ---- the lessons' checks, out of the students' sight -------------------------------------------------------------
# (what were hidden cells of nbs/tutorials/sinusoid_adaptation.ipynb and mapreduce_steps.ipynb: the lessons show prose,
# figures and widgets; what their prose promises is checked here, headless, with the same library code they call)

def test_sinusoid_lesson_numbers_hold():
    "Lesson 1, 'The numbers': one step from each meta-learned start beats both baselines on 100 held-out tasks."
    import torch
    from metamr_nb.inference import evaluate
    from metamr_nb.models import MLP
    from metamr_nb.registry import make_learner
    from metamr_nb.signals import Sinusoid
    from metamr_nb.viz import load_asset
    torch.set_num_threads(1)
    learners = {a: load_asset(f'sinusoid_{a}') for a in ('maml', 'fomaml', 'reptile', 'pretrained')}
    torch.manual_seed(0)
    learners['random'] = make_learner('maml', MLP())
    held_out = Sinusoid.maml().sample(100, 10, 50, seed=2026)
    res = {name: evaluate(l, held_out, steps=(1, 10), lr=0.01) for name, l in learners.items()}
    assert res['maml'][1]['loss'] < res['pretrained'][1]['loss'] < res['random'][1]['loss'], res
    for a in ('maml', 'fomaml', 'reptile'):  # "a wide margin": well under the better baseline after ten steps
        assert res[a][10]['loss'] < 0.6*res['pretrained'][10]['loss'], (a, res[a][10], res['pretrained'][10])


def test_sinusoid_clicks_change_the_fit(app):
    "Lesson 1's gesture, headless: a point placed far off the wave changes every start's fit; removing it restores it."
    with app.hold():
        for k, v in dict(steps=10, shots=10, noise=0.0, lr=0.01, safeguard=False, amplitude=3.5, phase=1.0).items():
            getattr(app, k).value = v
    s0, mse0 = app.score.value, {k: r['mse'][-1] for k, r in app.result.items()}
    app.add_point(0.0, 5.5)
    assert app.points.value.startswith('support: 11 points, placed by hand'), app.points.value
    assert app.score.value != s0 and all(app.result[k]['mse'][-1] != m for k, m in mse0.items())
    _check(app.score.value)  # 'a point that lies': the score still reads as numbers or 'diverged at step k'
    c, r = app.pixel(0.0, 5.5, panel=2)
    for t in ('mousedown', 'mouseup'): app._mouse({'type': t, 'arrayX': c, 'arrayY': r})
    assert app.points.value.startswith('support: 10 points'), app.points.value
    assert all(abs(app.result[k]['mse'][-1] - m) < 1e-6*max(1, m) for k, m in mse0.items())


def test_shape_lesson_numbers_hold():
    """Lesson 4, 'The numbers' (60 held-out tasks each, as under nbdev_test): one step from the MAML start beats the random
    start on every suite, and five pictures per kind beat one after five steps."""
    import torch
    from metamr_nb.inference import evaluate
    from metamr_nb.models import MLP
    from metamr_nb.registry import make_learner
    from metamr_nb.shapes import InsideOutside, ShapeKinds
    from metamr_nb.viz import load_asset
    torch.set_num_threads(1)
    torch.manual_seed(0)
    inside, kinds = load_asset('shapes_inside_maml'), load_asset('shapes_kinds_maml')
    rand_inside = make_learner('maml', MLP(d_in=2, widths=(40, 40), d_out=1), loss='bce', inner_steps=5, inner_lr=0.5)
    rand_kinds = make_learner('maml', MLP(d_in=256, widths=(32, 32), d_out=5), loss='ce', inner_steps=3, inner_lr=0.2)
    held = lambda shots: ShapeKinds(ways=5, split='test', image_size=16).sample(60, shots, 5, seed=7)
    suites = {'inside': (InsideOutside(balance=True).sample(60, 20, 100, seed=7), inside, rand_inside),
              '1-shot': (held(1), kinds, rand_kinds), '5-shot': (held(5), kinds, rand_kinds)}
    acc = {(name, start): [r['acc'] for r in evaluate(l, tasks, steps=(1, 5)).values()]
           for name, (tasks, meta, rand) in suites.items() for start, l in (('maml', meta), ('random', rand))}
    for name in suites: assert acc[name, 'maml'][0] > acc[name, 'random'][0], (name, acc)
    assert acc['5-shot', 'maml'][1] > acc['1-shot', 'maml'][1], acc


def test_shape_app_controls():
    "Lesson 4's app, driven headless: every control redraws what it names; a live training starts and Stop ends it."
    import torch
    from metamr_nb.shape_app import ShapeApp
    torch.set_num_threads(1)
    t = ShapeApp(train_steps=100_000, redraw_every=20)  # far more than the test lets it run: only Stop ends it
    try:
        img0 = t.plot.value
        t.kind.value = 'ring'; assert t.score.value.startswith('ring') and t.plot.value != img0
        img = t.plot.value; t.shots.value = 6; assert t.plot.value != img
        t.steps.value = 3; assert 'after 3 steps' in t.score.value
        img = t.plot.value; t.new_btn.click(); assert t.plot.value != img
        t.mode.value = 'kinds'; assert t.score.value.startswith('5-way, 1-shot')
        t.image_shots.value = 5; assert t.score.value.startswith('5-way, 5-shot')
        img = t.plot.value; t.split.value = 'train'; assert t.score.value.startswith('5-way, 5-shot') and t.plot.value != img
        t.live.train_btn.click(); assert t.live.running
        assert _poll(lambda: len(t.live.losses) >= 3), 'the live training logged no loss'
        t.live.stop_btn.click(); assert t.live.wait(300), 'Stop did not stop the training'
        assert t.live.status.value.startswith('stopped at step'), t.live.status.value
        t.shipped_btn.click(); assert t.learners['kinds'] is t.shipped['kinds']
    finally: t.close()


def _poll(cond, limit=300):
    "Wait for `cond()` (a hang limit only; polled every 10 ms)."
    import time
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end: return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize('output', ['adapted', 'meta_grad'])
def test_lesson2_the_three_executions_agree(output):
    "Lesson 2, 'The loop and the batch compute the same thing': the same update from loop, vmap and batched maps."
    import torch
    from metamr_nb.batched import map_batched
    from metamr_nb.learners import MAML, Reptile
    from metamr_nb.mapreduce import as_batch, map_loop, map_vmap
    from metamr_nb.models import MLP
    from metamr_nb.signals import Sinusoid
    torch.manual_seed(0)
    l = (Reptile if output == 'adapted' else MAML)(MLP(), inner_steps=5 if output == 'adapted' else 1, inner_lr=0.01)
    b = as_batch(Sinusoid.maml().sample(tasks=25, shots=10, queries=10, seed=2))
    outs = [f(l.model, l.params, b, inner_steps=l.inner_steps, inner_lr=0.01, output=output) for f in (map_loop, map_vmap, map_batched)]
    ref = l.direction(outs[0])
    for r in outs[1:]:
        d = l.direction(r)
        assert max((d[k] - ref[k]).abs().max().item() for k in d) < 1e-5


@pytest.fixture(scope='module')
def stepper():
    import torch
    from metamr_nb.stepper_app import MapReduceStepper
    torch.set_num_threads(1)
    s = MapReduceStepper()
    yield s
    s.close()


@pytest.mark.parametrize('algo', ['reptile', 'maml'])
def test_lesson2_play_lowers_the_meta_loss_within_its_steps(stepper, algo):
    "Lesson 2 promises the meta-loss falls within Play's meta-iterations (the page prints the measured numbers)."
    stepper.algo.value = algo  # a reset with the algorithm's slider starts
    h = stepper.run(stepper.play_steps)
    first, last = sum(h[:10])/10, sum(h[-10:])/10
    assert last < 0.8*first, (algo, first, last)  # a drop the loss panel shows plainly, not noise


def test_lesson2_sliders_redraw_at_once(stepper):
    "A slider moved with a map pending redoes the map and redraws, without a Step."
    stepper.algo.value = 'reptile'
    stepper.map()
    img, res, it = stepper.plot.value, stepper.res, stepper.iteration
    stepper.inner_steps.value = 2
    assert stepper.res is not res and stepper.plot.value != img and stepper.iteration == it and stepper.phase == 'reduce'
    img = stepper.plot.value
    stepper.outer_lr.value = 0.1  # the preview star moves
    assert stepper.plot.value != img and stepper.iteration == it


def test_compare_page_results_are_complete():
    "The comparison page (nbs/tutorials/compare.ipynb) reads six runs: two setups × MAML, Reptile, CNP, all finite."
    import numpy as np
    from metamr_nb.compare import load_compare
    res = load_compare()
    assert set(res['runs']) == {f'{s}/{l}' for s in ('sinusoid', 'inside') for l in ('maml', 'reptile', 'cnp')}, sorted(res['runs'])
    assert all(np.isfinite(r['eval']['0']['loss']) for r in res['runs'].values())


# ---- the set-encoder lesson (nbs/tutorials/cnp_band.ipynb): its "Things to try" and the exercise that changes the family
BAND = re.compile(r'^(\d+) context points?: query MSE (\d{1,6}\.\d{3}) · mean σ (\d{1,4}\.\d{2}) · '
                  r'inside ±1σ (\d{1,3})% \(ideal 68%\) · inside ±2σ (\d{1,3})% \(ideal 95%\) of \d+ query points$')


def _band_reads_well(app, k):
    "The score line a student reads: k context points, finite plain numbers, coverages in [0, 100] with ±2σ ⊇ ±1σ."
    s = app.score.value
    m = BAND.match(s)
    assert m, s
    assert int(m[1]) == k and not re.search(r'nan|inf|e\+', s, re.I), s
    assert 0 <= int(m[4]) <= int(m[5]) <= 100, s
    return float(m[2]), float(m[3])


@pytest.fixture(scope='module')
def band():
    import torch
    from metamr_nb.cnp_app import BandApp
    torch.set_num_threads(1)
    a = BandApp()
    yield a
    a.close()


def test_cnp_band_one_point_is_wide(band):
    "k = 1: the band is wider than with every one of the 20 points, on the same task."
    band.context.value = 1
    _, sigma1 = _band_reads_well(band, 1)
    band.context.value = band.context.max
    _, sigma20 = _band_reads_well(band, band.context.max)
    assert sigma1 > sigma20, (sigma1, sigma20)


def test_cnp_band_add_points_one_at_a_time(band):
    "'add a point' walks k = 1 … 20, each step redrawn and readable; past the last point it starts again from one."
    band.context.value = 1
    for k in range(2, band.context.max + 1):
        img = band.plot.value
        band.add_btn.click()
        _band_reads_well(band, k)
        assert band.plot.value != img
    band.add_btn.click()
    _band_reads_well(band, 1)


def test_cnp_band_new_tasks_at_k20_and_a_large_amplitude(band):
    "k = 20, then 'new task' until a wave reaches about ±5: every task reads well (as the page asks the student to do)."
    band.context.value = band.context.max
    amplitudes = []
    for _ in range(40):
        band.new_btn.click()
        _band_reads_well(band, band.context.max)
        amplitudes.append(float(band.task().params['amplitude'][0]))
        if amplitudes[-1] >= 4.5: break
    assert amplitudes[-1] >= 4.5, f'no wave reached amplitude 4.5 in {len(amplitudes)} new tasks: {amplitudes}'


def _band_page_families():
    "Every `Sinusoid.maml(...)` the lesson's prose asks the student to pass to BandApp, read from the notebook itself."
    import json, pathlib
    nb = json.loads((pathlib.Path(__file__).parents[1]/'nbs/tutorials/cnp_band.ipynb').read_text())
    text = '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown')
    return sorted(set(re.findall(r'`(Sinusoid\.maml\([^`]+\))`', text)))


def test_cnp_band_page_names_its_families():
    "The parser below finds the page's 'try it' (x outside the trained range) and exercise 2 (noise)."
    fams = _band_page_families()
    assert any('x_range' in f for f in fams) and any('noise' in f for f in fams), fams


@pytest.mark.parametrize('family', _band_page_families())
def test_cnp_band_other_families_read_well(family):
    "Each family the page suggests, as written there: BandApp takes it, and its line reads well at k = 1, 5 and 20."
    import torch
    from metamr_nb.cnp_app import BandApp
    from metamr_nb.signals import Sinusoid
    torch.set_num_threads(1)
    a = BandApp(family=eval(family, {'Sinusoid': Sinusoid}))
    try:
        for k in (1, 5, a.context.max):
            a.context.value = k
            _band_reads_well(a, k)
    finally: a.close()
