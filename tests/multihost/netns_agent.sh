#!/usr/bin/env bash
# Remote agent for the simulated hosts of tests/multihost (what ssh is on a real cluster). Open MPI and
# shardlm-launch call it as  AGENT [options] HOST COMMAND...; it runs COMMAND inside the network
# namespace that plays HOST: 10.77.0.N is namespace ${SHARDLM_TEST_NETNS}(N-1).
#
# Faults the tests inject (environment):
#   SHARDLM_TEST_BIND="HOST:SRC:DST ..."  on HOST, bind-mount SRC over DST first: a host whose files differ.
#       `ip netns exec` gives each command its own mount namespace, so nobody else sees the mount.
#   SHARDLM_TEST_HANG=HOST                 HOST accepts the connection and never answers.
# A HOST with no namespace behaves like a machine that is not there.
set -euo pipefail
while [[ ${1:-} == -* ]]; do shift; done
host=${1:?usage: netns_agent.sh [options] HOST COMMAND...}
shift
prefix=${SHARDLM_TEST_NETNS:?SHARDLM_TEST_NETNS names the test namespaces}

namespace=""
if [[ $host =~ ^10\.77\.0\.([0-9]+)$ ]]; then namespace=$prefix$((BASH_REMATCH[1] - 1)); fi
if [ -z "$namespace" ] || [ ! -e "/run/netns/$namespace" ]; then
  # As ssh would: try to connect (from the first simulated host, so the attempt stays on the test's
  # bridge) and give up soon when nothing answers ARP.
  ip netns exec "${prefix}0" timeout 1 bash -c "exec 3<>/dev/tcp/$host/22" 2>/dev/null || true
  echo "ssh: connect to host $host port 22: No route to host" >&2
  exit 255
fi
if [ "${SHARDLM_TEST_HANG:-}" = "$host" ]; then exec sleep 600; fi

mounts=""
for bind in ${SHARDLM_TEST_BIND:-}; do
  IFS=: read -r bind_host source target <<<"$bind"
  if [ "$bind_host" = "$host" ]; then mounts+="mount --bind $source $target && "; fi
done
# Each host gets its own host name (a UTS namespace): Open MPI 4.1 tells nodes apart by name, and with
# several ranks per node on one shared name its TCP transport crashes (ob1 segfault, seen here).
# The command arrives as words that ssh would join for the remote shell; do the same.
exec ip netns exec "$namespace" unshare --uts /bin/sh -c \
  "hostname sim-${host//./-} && ${mounts}exec /bin/sh -c \"\$0\"" "$*"
