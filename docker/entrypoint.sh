#!/usr/bin/env bash
# What `docker run IMAGE [lab|app|test|nbtest PATH...|COMMAND...]` does (the Dockerfile's entry point).
set -euo pipefail
cd /home/student/metamr_nb
token=${JUPYTER_TOKEN:-$(python -c 'import secrets; print(secrets.token_hex(16))')}
what=${1:-lab}; [ $# -gt 0 ] && shift
case "$what" in
  lab)   # JupyterLab on the lessons, on every interface of the container, with a token (printed in its URL)
    echo "metamr_nb: JupyterLab on port 8888; open http://127.0.0.1:8888/lab?token=$token"
    exec jupyter lab nbs/ --ServerApp.ip=0.0.0.0 --ServerApp.port=8888 --no-browser \
         --IdentityProvider.token="$token" --ServerApp.root_dir=/home/student/metamr_nb "$@" ;;
  app)   # the lessons as Voilà apps: prose, figures and widgets, no code
    for nb in sinusoid_adaptation mapreduce_steps shape_classification; do
      echo "metamr_nb: lesson http://127.0.0.1:8866/voila/render/$nb.ipynb?token=$token"; done
    # the `metamr` template: Voilà's lab template without the CDN stylesheets (share/jupyter/voila/templates/)
    export JUPYTER_PATH="/home/student/metamr_nb/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
    exec voila nbs/tutorials/ --template=metamr --progressive_rendering=True --Voila.ip=0.0.0.0 --Voila.port=8866 --Voila.token="$token" --no-browser "$@" ;;
  test)  # the whole suite, as `make test` runs it
    exec bash scripts/test.sh "$@" ;;
  nbtest) # nbdev_test on the given notebooks, e.g. nbtest nbs/tutorials/why_batching.ipynb
    exec nbdev_test --path "$@" ;;
  *) exec "$what" "$@" ;;
esac
