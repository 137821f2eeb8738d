#!/usr/bin/env bash
# Sets up and builds visionrt (tools/setup.sh), then runs the whole test
# suite: unit tests, end-to-end model tests, the command-line tool and the
# install test.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup.sh "$@"
ctest --test-dir build --output-on-failure -j2 --timeout 900
