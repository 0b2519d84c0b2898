"""The package's layers, read from its source: every import of one metamr_nb module by another (at any depth, lazy
imports inside functions included) must point down the layers, and there is no import cycle.

    tasks, signals, shapes, models → mapreduce → learners, cnp → training → inference, runs, bench
    → distributed → cli → widgets (the apps)
"""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]/'metamr_nb'
LAYERS = [('tasks', 'signals', 'shapes', 'models'), ('mapreduce',), ('learners', 'cnp'), ('training',),
          ('inference', 'runs', 'bench'), ('distributed',), ('cli',), ('widgets',)]
LAYER = {m: i for i, ms in enumerate(LAYERS) for m in ms}


def imports(path: Path) -> set:
    "The metamr_nb modules that `path` imports, anywhere in it."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1 or mod == 'metamr_nb' or mod.startswith('metamr_nb.'):
                base = mod.split('.')[-1] if node.level == 1 else mod[len('metamr_nb.'):] if '.' in mod else ''
                if base: out.add(base.split('.')[0])
                else: out |= {a.name for a in node.names}  # from . import shapes / from metamr_nb import cli
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('metamr_nb.')}
    return out


def graph() -> dict:
    mods = {p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_')}
    return {m: sorted((imports(PKG/f'{m}.py') & mods) - {m}) for m in sorted(mods)}


def cycles(g: dict) -> list:
    "Every cycle found by a depth-first search, as a list of modules."
    found, state = [], {}
    def visit(m, path):
        state[m] = 'open'
        for n in g[m]:
            if state.get(n) == 'open': found.append(path[path.index(n):] + [n])
            elif n not in state: visit(n, path + [n])
        state[m] = 'done'
    for m in g:
        if m not in state: visit(m, [m])
    return found


def test_every_module_has_a_layer():
    assert set(graph()) == set(LAYER), f"modules without a layer: {sorted(set(graph()) - set(LAYER))}; gone: {sorted(set(LAYER) - set(graph()))}"


def test_no_import_cycle():
    c = cycles(graph())
    assert not c, 'import cycles: ' + '; '.join(' -> '.join(x) for x in c)


def test_imports_point_down_the_layers():
    g = graph()
    up = [f'{m} ({LAYER[m]}) imports {n} ({LAYER[n]})' for m, ns in g.items() for n in ns if LAYER[n] > LAYER[m]]
    assert not up, 'imports that climb the layers: ' + '; '.join(up)


def test_the_check_finds_a_cycle():
    "The checker itself: a made-up graph with a cycle is caught, one without is not."
    assert cycles({'a': ['b'], 'b': ['c'], 'c': ['a']}) == [['a', 'b', 'c', 'a']]
    assert cycles({'a': ['b'], 'b': ['c'], 'c': []}) == []


if __name__ == '__main__':
    for m, ns in graph().items(): print(f'{m:12} {LAYER.get(m)} -> {ns}')
