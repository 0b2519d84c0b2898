"""The package's layers, read from its source (metamr_nb.layers, nbs/11_architecture.ipynb): every import of one
metamr_nb module by another, at any depth (lazy imports inside functions too), points down the layers, and there is
no import cycle. The notebook shows the same graph as a figure."""
from metamr_nb.layers import LAYER, climbing, cycles, import_graph, module_imports


def test_every_module_has_a_layer():
    g = import_graph()
    assert set(g) == set(LAYER), f"modules without a layer: {sorted(set(g) - set(LAYER))}; gone: {sorted(set(LAYER) - set(g))}"


def test_no_import_cycle():
    c = cycles(import_graph())
    assert not c, 'import cycles: ' + '; '.join(' -> '.join(x) for x in c)


def test_imports_point_down_the_layers():
    up = climbing(import_graph())
    assert not up, 'imports that climb the layers: ' + '; '.join(f'{m} imports {n}' for m, n in up)


def test_the_checks_find_what_they_should(tmp_path):
    "The checkers themselves: a loop, a climbing import, and the import forms they must see (lazy, relative, absolute)."
    assert cycles({'a': ['b'], 'b': ['c'], 'c': ['a']}) == [['a', 'b', 'c', 'a']]
    assert cycles({'a': ['b'], 'b': ['c'], 'c': []}) == []
    assert climbing({'tasks': ['cli'], 'cli': ['tasks']}) == [('tasks', 'cli')]
    src = tmp_path/'m.py'
    src.write_text("from .tasks import TaskSet\nimport metamr_nb.cnp\nfrom metamr_nb import cli\n"
                   "def f():\n    from metamr_nb.distributed import launch\n")
    assert module_imports(src) == {'tasks', 'cnp', 'cli', 'distributed'}
