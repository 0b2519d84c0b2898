#!/usr/bin/env bash
# Build the metamr_nb image on a machine that reaches Debian's packages and PyPI but no container registry (this
# project's machines): start dockerd if none answers, make a Debian bookworm base with debootstrap (once), collect
# the wheels with pip, serve them on the loopback while `docker build` runs (so none is left in a layer), and build.
#
#   scripts/container.sh [IMAGE]     # default metamr_nb:latest (make image); prints the image's size
#
# Elsewhere, build the ordinary way: docker build -t metamr_nb .
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${1:-metamr_nb:latest}
BASE_IMAGE=${BASE_IMAGE:-metamr-base:bookworm}
PY=${PYTHON:-.venv/bin/python}
say() { echo "container.sh: $*"; }
need() { command -v "$1" >/dev/null || { say "$1 is missing; as root: apt-get install -y $2" >&2; exit 2; }; }

need docker docker.io
if ! docker info >/dev/null 2>&1; then
  need dockerd docker.io
  [ "$(id -u)" = 0 ] || { say "no Docker daemon answers and this is not root: start dockerd first" >&2; exit 2; }
  say "starting dockerd (log: /tmp/metamr-dockerd.log)"
  (dockerd >/tmp/metamr-dockerd.log 2>&1 &)
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { say "dockerd did not start; see /tmp/metamr-dockerd.log" >&2; exit 1; }
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  need debootstrap debootstrap
  root=docker/base/rootfs; rm -rf "$root"; mkdir -p docker/base
  say "debootstrap --variant=minbase bookworm (about 30 s), imported as $BASE_IMAGE"
  debootstrap --variant=minbase bookworm "$root" >docker/base/debootstrap.log 2>&1
  tar -C "$root" -c . | docker import - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
fi

# the wheels, collected once per set of requirements into a cache outside the checkout (a fresh clone reuses them)
key=$("$PY" -c "import hashlib; print(hashlib.sha256(open('settings.ini', 'rb').read()).hexdigest()[:12])")
WHEELS=${METAMR_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/metamr_nb/wheels-$key}
if [ ! -f "$WHEELS/.complete" ]; then
  say "wheels of the requirements (run-time and dev) into $WHEELS"
  mkdir -p "$WHEELS"
  reqs=$("$PY" -c "import configparser, shlex; c = configparser.ConfigParser(delimiters=['=']); c.read('settings.ini'); \
d = c['DEFAULT']; print(' '.join(shlex.quote(r) for r in shlex.split(d['requirements']) + shlex.split(d['dev_requirements'])))")
  eval "$PY" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$WHEELS" setuptools wheel "$reqs"
  # ... and the versions that Debian bookworm's Python (3.11.2, older than this venv's) can install, where the newest
  # ones ask for more (pip in the image picks, from the folder, what its Python takes)
  eval "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: --python-version "${BASE_PYTHON:-3.11.2}" \
    --implementation cp --abi cp311 --abi abi3 --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform linux_x86_64 --platform any --find-links "$WHEELS" -d "$WHEELS" \
    setuptools wheel "$reqs"
  touch "$WHEELS/.complete"
fi

# a fixed port where it is free: the URL is a build argument, and a new one would rebuild the cached layers
port=$("$PY" -c 'import socket, sys
for p in (int(sys.argv[1]), 0):
    try: s = socket.socket(); s.bind(("127.0.0.1", p)); print(s.getsockname()[1]); break
    except OSError: pass' "${METAMR_WHEELS_PORT:-38765}")
"$PY" -m http.server "$port" --bind 127.0.0.1 --directory "$WHEELS" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break; sleep 0.1; done

say "docker build -t $IMAGE (base $BASE_IMAGE, wheels from http://127.0.0.1:$port/)"
log=$(mktemp); trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
rc=0; DOCKER_BUILDKIT=0 docker build --network host --build-arg BASE="$BASE_IMAGE" \
  --build-arg WHEELS_URL="http://127.0.0.1:$port/" -t "$IMAGE" . >"$log" 2>&1 || rc=$?
grep -v '^ ---> \|^Removing intermediate\|DEPRECATED\|BuildKit\|buildx\|environment-variable\|^ *$' "$log" || true
[ $rc = 0 ] || { say "docker build failed (exit $rc; its output is above)" >&2; exit 1; }
say "built $IMAGE: $(docker image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.2f GB", $1/1e9}')"
