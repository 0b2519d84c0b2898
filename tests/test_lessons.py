"""The lessons' "things to try", each one tried on the app it names: what the student reads must be a readable number
or "diverged at step k", never NaN, infinity or a 30-digit number."""
import re
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
