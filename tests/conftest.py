import pytest


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: full-length runs (minutes); `make test-slow` runs them, `make test` skips them')


def pytest_collection_modifyitems(config, items):
    "A bare `pytest tests` skips the slow tests (a 70,000-step run is not what a quick check expects); any -m chooses itself."
    if config.option.markexpr: return
    skip = pytest.mark.skip(reason='slow (minutes): run them with `pytest -m slow` or `make test-slow`')
    for item in items:
        if 'slow' in item.keywords: item.add_marker(skip)
