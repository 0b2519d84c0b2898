"""The benchmark's comparison with JAX: the same directions on the same data, and well-formed results with or without JAX.

Speeds are never asserted here (the machine is shared); only that the measurement runs and says what it measured."""
import json
import pytest
from metamr_nb import bench


def _need_jax():
    why = bench.jax_status()
    if why: pytest.skip(f"{why}: the ratio tests need it")


@pytest.mark.parametrize('algo', ['reptile', 'fomaml', 'maml'])
@pytest.mark.parametrize('steps', [1, 5])
def test_jax_computes_the_torch_direction(algo, steps):
    _need_jax()
    assert bench.jax_agreement(algo, steps, T=8) < 1e-5


def test_ratios_to_jax_come_from_the_same_run(tmp_path):
    _need_jax()
    rows = bench.benchmark(('reptile', 'maml'), (4,), (1,), executions=('batched', 'fused', 'jax'), reps=3, sample=0.002)
    for r in rows:
        for e in ('batched', 'fused'):
            lo, hi = r[f'{e}_vs_jax_iqr']
            assert 0 < lo <= r[f'{e}_vs_jax'] <= hi and r[f'{e}_seconds']['n'] == 3
    back = bench.load_bench(bench.save_bench(rows, tmp_path/'b.json'))
    assert list(back) == json.loads(json.dumps(list(rows))) and back.meta['provenance']['threads'] == 1


def test_without_jax_the_columns_say_why(monkeypatch):
    monkeypatch.setattr(bench, 'jax_status', lambda: "JAX not installed (pip install -e '.[bench]')")
    rows = bench.benchmark(('reptile',), (4,), (1,), executions=('batched', 'jax'), reps=2, sample=0.001)
    assert rows[0]['skipped'] == {'jax': "JAX not installed (pip install -e '.[bench]')"} and 'jax_tasks_s' not in rows[0]
    assert 'JAX not installed' in bench.format_bench(rows)


def test_protocol_rates_are_well_formed():
    res = bench.protocol_rates(steps_per_sample=2, reps=2, executions=('batched', 'fused', 'jax'))
    assert set(res['ms_per_step']) | set(res['skipped']) == {'batched', 'fused', 'jax'}
    assert all(s['min'] <= s['median'] <= s['max'] and s['n'] == 2 for s in res['ms_per_step'].values())


def test_without_a_compiler_the_compiled_columns_say_why(monkeypatch):
    why = 'no C++ compiler on PATH (torch.compile builds C++ on a CPU): install g++ (apt-get install g++) or set CXX'
    monkeypatch.setattr(bench, 'compile_status', lambda: why)
    rows = bench.benchmark(('reptile',), (4,), (1,), executions=('batched', 'compiled'), reps=2, sample=0.001)
    assert rows[0]['skipped'] == {'compiled': why} and 'compiled_tasks_s' not in rows[0] and 'batched_tasks_s' in rows[0]
    assert 'no C++ compiler' in bench.format_bench(rows)
    res = bench.protocol_rates(steps_per_sample=2, reps=2, executions=('batched', 'compiled', 'compiled+torch'))
    assert set(res['ms_per_step']) == {'batched'} and set(res['skipped']) == {'compiled', 'compiled+torch'}
    with pytest.raises(ValueError, match="valid: \\['batched'"):
        bench.protocol_rates(executions=('numba',))


def test_pinning_after_jax_started_says_the_jax_rates_would_not_compare(monkeypatch):
    "XLA sizes its thread pool when JAX starts: pinning after that cannot make JAX one-threaded, and must say so."
    import sys, types, warnings
    monkeypatch.setenv('XLA_FLAGS', '')
    monkeypatch.setitem(sys.modules, 'jax', sys.modules.get('jax') or types.ModuleType('jax'))
    monkeypatch.setattr(bench.os, 'sched_setaffinity', lambda pid, cores: None, raising=False)
    with pytest.warns(UserWarning, match='before pin_one_core'): pinned = bench.pin_one_core(1)
    assert bench.XLA_ONE_THREAD not in pinned['xla_flags']  # (too late to take effect: not claimed)
    monkeypatch.delitem(sys.modules, 'jax')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert bench.XLA_ONE_THREAD in bench.pin_one_core(1)['xla_flags']
