#!/usr/bin/env bash
# The README's test command: installs what is missing, builds everything, runs every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/launch/build.sh" -DSHARDLM_BUILD_TESTS=ON
ctest --test-dir "$root/build" --output-on-failure -j "$(nproc)" --timeout 600
