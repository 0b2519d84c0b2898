def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: full-length runs (minutes); `make test-slow` runs them, `make test` skips them')
