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


def test_importing_leaves_torch_threads_alone():
    "Importing every module changes no global torch setting (the thread count is the caller's: --threads, OMP_NUM_THREADS)."
    import os, subprocess, sys
    code = ("import torch; torch.set_num_threads(3); import importlib\n"
            "from metamr_nb.layers import import_graph\n"
            "for m in import_graph(): importlib.import_module(f'metamr_nb.{m}')\n"
            "print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')}
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == '3', out.stdout


# Issue #18, "small rooms": one idea per exported cell, so no `#| export` cell is over MAX_EXPORT_LINES lines.
MAX_EXPORT_LINES = 60


def long_export_cells(limit=MAX_EXPORT_LINES) -> dict:
    "Notebook name -> [(cell index, lines, first line)] of its `#| export` cells over `limit` lines."
    import json, re
    from pathlib import Path
    nbs = Path(__file__).resolve().parents[1]/'nbs'
    found = {}
    for p in sorted(nbs.rglob('*.ipynb')):
        if '.ipynb_checkpoints' in p.parts: continue
        for i, c in enumerate(json.loads(p.read_text())['cells']):
            src = ''.join(c['source']).splitlines()
            if c['cell_type'] != 'code' or not src or not re.match(r'#\|\s*export', src[0]): continue
            if len(src) > limit:
                first = next((l for l in src[1:] if l.strip()), '')
                found.setdefault(str(p.relative_to(nbs).with_suffix('')), []).append((i, len(src), first.strip()[:80]))
    return found


def test_exported_cells_are_small():
    "Every `#| export` cell in nbs/ is at most MAX_EXPORT_LINES lines."
    long = long_export_cells()
    over = [f"{nb}.ipynb cell {i} ({n} lines): {first}" for nb, cells in long.items() for i, n, first in cells]
    assert not over, (f"exported cells over {MAX_EXPORT_LINES} lines (split them: one definition per cell, methods "
                      f"added with @patch, helpers for long functions):\n" + '\n'.join(over))
