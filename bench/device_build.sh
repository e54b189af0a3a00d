#!/usr/bin/env bash
# Builds shardlm on the device machine (Ubuntu 24.04, 16 cores), whose system has every dependency
# but Boost.Serialization: that comes from Debian's 1.74 packages carried in .device-deps/ and unpacked
# beside the build. Leaves the build in /tmp/shardlm-build and links build/ to it for the bench scripts.
# Arguments go to cmake: -DSHARDLM_BUILD_TESTS=ON builds the tests too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deps=/tmp/shardlm-deps
mkdir -p "$deps"
for deb in "$root"/.device-deps/*.deb; do dpkg -x "$deb" "$deps"; done
cmake -S "$root" -B /tmp/shardlm-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHARDLM_BUILD_TESTS=OFF \
  -DBoost_DIR="$deps/usr/lib/x86_64-linux-gnu/cmake/Boost-1.74.0" -DBoost_USE_STATIC_LIBS=ON "$@" >/dev/null
cmake --build /tmp/shardlm-build -j "$(nproc)"
ln -sfn /tmp/shardlm-build "$root/build"
