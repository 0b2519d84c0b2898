"""The GitHub Actions workflows (.github/workflows/): they lint clean with actionlint, and they do what the project says.

- test.yaml runs `.ci/run` (that is, `make test`) with CI=true, on every push and pull request;
- deploy.yaml builds the site with the project's own docs command and publishes it with actions/deploy-pages, with the
  permissions Pages needs (pages: write, id-token: write).

actionlint and shellcheck are the venv's (dev requirements), found next to this interpreter, so the check is the same
on every machine whatever else is on PATH."""
import shutil, subprocess, sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WF = ROOT/'.github'/'workflows'
BIN = Path(sys.executable).parent
NAMES = ['test.yaml', 'deploy.yaml']


def _tool(name):
    path = BIN/name if (BIN/name).exists() else shutil.which(name)
    assert path, f'{name} is missing: it is a dev requirement (settings.ini); run make setup'
    return str(path)


def load(name) -> dict:
    wf = yaml.safe_load((WF/name).read_text(encoding='utf-8'))
    assert isinstance(wf, dict), f'{name} is not a YAML mapping'
    if True in wf: wf['on'] = wf.pop(True)  # YAML 1.1 reads the key `on` as the boolean true
    return wf


def triggers(wf) -> dict:
    on = wf.get('on')
    if isinstance(on, str): return {on: None}
    if isinstance(on, list): return {k: None for k in on}
    return on or {}


def steps(wf):
    for job in (wf.get('jobs') or {}).values():
        yield from job.get('steps') or []


def uses(wf, action) -> list:
    return [s for s in steps(wf) if str(s.get('uses', '')).split('@')[0] == action]


def permissions(wf) -> list:
    "The permission maps of the workflow and of each of its jobs."
    maps = [wf.get('permissions')] + [j.get('permissions') for j in (wf.get('jobs') or {}).values()]
    return [m for m in maps if isinstance(m, dict)]


def test_the_workflows_are_there():
    found = sorted(p.name for p in WF.glob('*.y*ml'))
    assert set(NAMES) <= set(found), found


@pytest.mark.parametrize('name', NAMES)
def test_actionlint_finds_no_problem(name):
    r = subprocess.run([_tool('actionlint'), '-no-color', '-oneline', f"-shellcheck={_tool('shellcheck')}", str(WF/name)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f'actionlint found problems in {name} (exit {r.returncode}):\n{r.stdout}{r.stderr}'


def test_test_workflow_runs_ci_run_on_push_and_pull_request():
    wf = load('test.yaml')
    assert {'push', 'pull_request'} <= set(triggers(wf)), triggers(wf)
    runs = [s for s in steps(wf) if '.ci/run' in str(s.get('run', ''))]
    assert runs, 'test.yaml has no step that runs .ci/run'
    jobs = [j for j in wf['jobs'].values() if any(s in runs for s in j.get('steps') or [])]
    for job in jobs:
        env = {**(wf.get('env') or {}), **(job.get('env') or {})}
        for s in job['steps']:
            if s in runs: env.update(s.get('env') or {})
        assert str(env.get('CI')).lower() == 'true', f'.ci/run must run with CI=true (env: {env})'
        assert 'timeout-minutes' in job, 'the test job needs a timeout-minutes'


def test_deploy_workflow_publishes_to_pages():
    wf = load('deploy.yaml')
    on = triggers(wf)
    assert 'push' in on and 'main' in ((on['push'] or {}).get('branches') or []), on
    assert uses(wf, 'actions/deploy-pages'), 'deploy.yaml does not use actions/deploy-pages'
    assert uses(wf, 'actions/upload-pages-artifact'), 'deploy.yaml does not upload a Pages artifact'
    perms = permissions(wf)
    assert any(p.get('pages') == 'write' for p in perms), f'deploy.yaml lacks `pages: write` ({perms})'
    assert any(p.get('id-token') == 'write' for p in perms), f'deploy.yaml lacks `id-token: write` ({perms})'
    assert any('scripts/docs.py site' in str(s.get('run', '')) for s in steps(wf)), \
        'deploy.yaml must build the site with the command make test checks (scripts/docs.py site)'
    (art,) = uses(wf, 'actions/upload-pages-artifact')
    assert (art.get('with') or {}).get('path') == '_docs', 'the Pages artifact must be the built site, _docs/'


def test_actions_are_pinned_to_a_version():
    for name in NAMES:
        for s in steps(load(name)):
            if 'uses' in s: assert '@' in s['uses'], f'{name}: {s["uses"]} is not pinned to a version'
