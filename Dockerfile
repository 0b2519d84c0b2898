# metamr_nb for a classroom: JupyterLab on the lessons (the default), the Voilà apps (`app`) or the tests (`test`).
#
#   docker build -t metamr_nb .                        # the ordinary way: official Python image, packages from PyPI
#   docker run -p 8888:8888 metamr_nb                  # JupyterLab on nbs/, http://127.0.0.1:8888/lab?token=...
#   docker run -p 8866:8866 metamr_nb app              # the lessons as Voilà apps
#   docker run metamr_nb test                          # the test suite (the browser tests skip: no Chromium here)
#
# scripts/container.sh (make image) builds it where no registry can be reached: BASE is then a Debian made with
# debootstrap, and WHEELS_URL a local wheel folder served on the loopback during the build (so no wheel stays in a layer).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Python 3.11 where the base lacks it (a bare Debian bookworm: its python3 is 3.11), one venv, one non-root user.
# (DL3008 asks to pin apt versions: bookworm's python3 is the one wanted, and a pin breaks at its next point release)
# hadolint ignore=DL3008
RUN if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*; \
    fi \
 && python3 -m venv /opt/venv \
 && useradd --create-home --uid 1000 --shell /bin/bash student

ARG WHEELS_URL=""
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# The dependencies first (a layer that a change to the notebooks does not invalidate): the CPU build of torch, then
# the rest. Offline, every package comes from WHEELS_URL and nothing from an index.
COPY settings.ini setup.py pyproject.toml MANIFEST.in README.md /tmp/pkg/
RUN deps=$(python3 -c "import configparser, shlex; c = configparser.ConfigParser(delimiters=['=']); c.read('/tmp/pkg/settings.ini'); \
d = c['DEFAULT']; print(' '.join(shlex.quote(r) for r in shlex.split(d['requirements']) + shlex.split(d['dev_requirements'])))") \
 && if [ -n "$WHEELS_URL" ]; then \
      eval pip install --no-index --find-links "$WHEELS_URL" setuptools wheel "$deps"; \
    else \
      pip install --index-url "$TORCH_INDEX" torch==2.13.0 && eval pip install setuptools wheel "$deps"; \
    fi \
 && rm -rf /tmp/pkg

# The project: the lessons, the library (installed in place, so nbdev_export and the tests see one copy), the tests.
COPY --chown=student:student . /home/student/metamr_nb
WORKDIR /home/student/metamr_nb
RUN pip install --no-deps --no-build-isolation -e . && chmod +x docker/entrypoint.sh
USER 1000:1000
EXPOSE 8888 8866
ENTRYPOINT ["/home/student/metamr_nb/docker/entrypoint.sh"]
CMD ["lab"]
