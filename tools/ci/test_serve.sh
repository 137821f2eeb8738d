#!/usr/bin/env bash
# Serving with Ray Serve (visionrt.serve): builds and tests the package with
# tools/ci/test_python.sh, installs ray[serve] into its virtual environment and
# runs tests/python_serve with pytest (the demo models deployed on a local
# Ray, concurrent HTTP requests checked against the command-line tool).
# The benchmark is apart: build-venv/bin/python tools/bench/bench_serve.py.
#
#   bash tools/ci/test_serve.sh [pip options for the package...]
#
# Run after tools/setup/setup.sh; pip fetches ray[serve] from PyPI. The virtual
# environment is tools/ci/test_python.sh's: the active one (VIRTUAL_ENV), else
# the folder VISIONRT_VENV names (default build-venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bash tools/ci/test_python.sh "$@"
if [[ -z ${VISIONRT_VENV:-} && -n ${VIRTUAL_ENV:-} ]]; then
  python=$VIRTUAL_ENV/bin/python
else
  python=${VISIONRT_VENV:-build-venv}/bin/python
fi

start=$SECONDS
"$python" -m pip install "ray[serve]"
echo "test_serve: pip install ray[serve] took $((SECONDS - start)) s"
"$python" -c 'import ray; print(f"test_serve: ray {ray.__version__}")'

if [[ -z ${VISIONRT_CLI:-} && -x build/visionrt ]]; then export VISIONRT_CLI=$PWD/build/visionrt; fi
# -s shows the counts and times the test prints; Ray's own deprecation
# warnings are left out.
start=$SECONDS
"$python" -m pytest tests/python_serve -p no:cacheprovider -rs -s -W ignore::DeprecationWarning
echo "test_serve: pytest took $((SECONDS - start)) s"

