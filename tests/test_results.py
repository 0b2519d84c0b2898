"""Every saved result says where it came from: the commit, the torch and numpy versions, the CPU and its vector
instructions, the threads and the exact command (issue #17). A results file holds one `provenance` block, or one per
row where rows are made by separate invocations (metamr_nb.fidelity)."""
import json, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(p for p in (ROOT/'results').rglob('*.json'))
NEED = {'commit', 'dirty', 'torch', 'numpy', 'cpu', 'cpu_capability', 'threads', 'command'}
# Results made before results recorded where they came from, still to be remade. A file listed here must still lack
# provenance, so the list can only shrink; it is empty now that every results file records its provenance.
PENDING = set()


def stamps(d: dict) -> list:
    "The provenance blocks of one results file: its own, else one per row."
    if 'provenance' in d: return [d['provenance']]
    return [r.get('provenance') for r in d.get('runs', {}).values()]


def test_there_are_results():
    assert len(FILES) >= 8, FILES


@pytest.mark.parametrize('path', FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_results_record_where_they_came_from(path):
    d = json.loads(path.read_text())
    blocks = stamps(d)
    if str(path.relative_to(ROOT)) in PENDING:
        assert not any(blocks), f"{path.relative_to(ROOT)} now records its provenance: take it off PENDING"
        return
    assert blocks and all(blocks), f"{path.relative_to(ROOT)}: no provenance (rerun the command that makes it)"
    for pv in blocks:
        missing = NEED - {k for k, v in pv.items() if v is not None and v != ''}
        assert not missing, f"{path.relative_to(ROOT)}: provenance lacks {sorted(missing)}"
        assert pv['dirty'] is False, f"{path.relative_to(ROOT)}: made from uncommitted code ({pv['commit']})"
        assert isinstance(pv['threads'], int) and pv['threads'] >= 1
        head = pv['command'].split()[0]  # python ..., one of the package's commands (metamr_train, metamr_bench, ...), or ENV=... first
        assert head == 'python' or head.startswith('metamr_') or '=' in head, pv['command']


@pytest.mark.parametrize('path', FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_recorded_commits_are_in_the_history(path):
    "The commit a result names exists in this repository (skipped outside a git checkout, e.g. an sdist)."
    if not (ROOT/'.git').exists(): pytest.skip('not a git checkout')
    if str(path.relative_to(ROOT)) in PENDING: pytest.skip('made before results recorded their commit (PENDING)')
    for pv in stamps(json.loads(path.read_text())):
        r = subprocess.run(['git', '-C', str(ROOT), 'cat-file', '-e', f"{pv['commit']}^{{commit}}"], capture_output=True)
        assert r.returncode == 0, f"{path.relative_to(ROOT)}: commit {pv['commit']} is not in this repository's history"
