# shellcheck shell=bash disable=SC2034,SC2016  # sourced (MH_ variables are for the tests)
# Three simulated hosts for the multi-host tests (sourced). Each host is a Linux network namespace with
# one address, 10.77.0.1-3/24, on a bridge of its own; the addresses exist only inside the namespaces,
# so no test traffic leaves them. Recipe: ../shared/netns-mpi.md. Names carry this shell's PID, so
# parallel test runs do not collide; everything is removed on exit, also after a failure.
#
#   netns_up                   make the hosts (exit 77, a CTest skip, where namespaces are refused)
#   on_host N CMD...           run CMD on host N (0-2) with the test agent and binary in its environment
#   launch_on_host0 ARGS...    shardlm-launch from host 0, MPI over TCP on 10.77.0.0/24 only
#   fail MESSAGE               end the test as failed
#
# Needs SHARDLM_BINARY (the shardlm binary) set before use. Provides MH_WORK (scratch folder).

MH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MH_ROOT=$(cd "$MH_DIR/../.." && pwd)
MH_AGENT=$MH_DIR/netns_agent.sh
MH_LAUNCH=$MH_ROOT/launch/shardlm-launch
MH_FIXTURES=$MH_ROOT/tests/fixtures
MH_NETNS=mh$$ # namespaces mh<pid>0..2, host-side veths mh<pid>v0..2, bridge mh<pid>br (<= 15 chars)
MH_WORK=$(mktemp -d)
# The same path must work on every simulated host and after a cd.
SHARDLM_BINARY=$(cd "$(dirname "$SHARDLM_BINARY")" && pwd)/$(basename "$SHARDLM_BINARY")

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

netns_down() {
  local i pid
  for i in 0 1 2; do
    # What a failed test left running in a namespace is ours: stop it, or the namespace lingers.
    for pid in $(ip netns pids "$MH_NETNS$i" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$MH_NETNS$i" 2>/dev/null || true
    ip link del "${MH_NETNS}v$i" 2>/dev/null || true # else the pair goes only when the namespace does
  done
  ip link del "${MH_NETNS}br" 2>/dev/null || true
  rm -rf "$MH_WORK"
}

netns_up() {
  local i error
  trap netns_down EXIT
  if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
    echo "SKIP: the multi-host tests simulate hosts with network namespaces, which needs root and iproute2"
    exit 77
  fi
  if ! error=$(ip netns add "${MH_NETNS}0" 2>&1); then
    echo "SKIP: network namespaces are refused here (ip netns add: $error)"
    exit 77
  fi
  ip link add "${MH_NETNS}br" type bridge
  ip link set "${MH_NETNS}br" up
  for i in 0 1 2; do
    [ "$i" = 0 ] || ip netns add "$MH_NETNS$i"
    ip link add "${MH_NETNS}v$i" type veth peer name eth0 netns "$MH_NETNS$i"
    ip link set "${MH_NETNS}v$i" master "${MH_NETNS}br"
    ip link set "${MH_NETNS}v$i" up
    ip netns exec "$MH_NETNS$i" ip addr add "10.77.0.$((i + 1))/24" dev eth0
    ip netns exec "$MH_NETNS$i" ip link set eth0 up
    ip netns exec "$MH_NETNS$i" ip link set lo up
  done
}

# As the agent does for the other hosts: the host's own network, mounts and host name (sim-10-77-0-N).
on_host() {
  local host=$1
  shift
  ip netns exec "$MH_NETNS$host" unshare --uts env SHARDLM_TEST_NETNS="$MH_NETNS" SHARDLM_RSH="$MH_AGENT" \
    SHARDLM_BIN="$SHARDLM_BINARY" /bin/sh -c 'hostname "$0" && exec "$@"' "sim-10-77-0-$((host + 1))" "$@"
}

# TCP only, on the simulated network only; every daemon connects straight back to mpirun (no tree
# spawn: the agent can start daemons from host 0 only). A hung job fails the test instead of blocking it.
launch_on_host0() {
  on_host 0 timeout 60 "$MH_LAUNCH" --mca btl tcp,self --iface 10.77.0.0/24 --mca plm_rsh_no_tree_spawn 1 "$@"
}

# The token ids of a JSON array, comma-separated: json_ids FILE KEY (no JSON tool on a bare machine).
json_ids() {
  tr -d ' \n' <"$1" | grep -o "\"$2\":\[[0-9,]*\]" | head -n 1 | grep -o '[0-9][0-9,]*' || true
}
