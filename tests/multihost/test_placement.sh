#!/usr/bin/env bash
# shardlm-launch placement, without hosts (--dry-run): TP groups stay whole on one host, stages spread
# over the hosts in order, slots are never exceeded, and what cannot be placed is refused with the reason.
set -euo pipefail
launch=$(cd "$(dirname "$0")/../.." && pwd)/launch/shardlm-launch
failures=0

# expect_map "HOST ARGS" "host of rank 0, rank 1, ...": the --host list mpirun gets and the printed map.
expect_map() {
  local args=$1 expected=$2 output hosts r host
  read -r -a argv <<<"$args"
  if ! output=$("$launch" "${argv[@]}" --dry-run -- generate --model m 2>&1); then
    echo "FAIL: $args: refused: $output"
    failures=$((failures + 1))
    return
  fi
  hosts=$(sed -n 's/.* --host \([^ ]*\) .*/\1/p' <<<"$output")
  if [ "$hosts" != "${expected// /,}" ]; then
    echo "FAIL: $args: mpirun --host $hosts, expected ${expected// /,}"
    failures=$((failures + 1))
  fi
  r=0
  for host in $expected; do # the printed map agrees: rank, host, stage, tp_rank
    if ! grep -Eq "^ +$r +$host +[0-9]+ +[0-9]+$" <<<"$output"; then
      echo "FAIL: $args: the printed map lacks rank $r on $host:"
      echo "$output"
      failures=$((failures + 1))
    fi
    r=$((r + 1))
  done
}

# expect_refusal "ARGS" "text the message must hold"
expect_refusal() {
  local args=$1 text=$2 output status=0
  read -r -a argv <<<"$args"
  output=$("$launch" "${argv[@]}" --dry-run -- generate --model m 2>&1) || status=$?
  if [ "$status" -eq 0 ] || ! grep -qF -- "$text" <<<"$output"; then
    echo "FAIL: $args: expected a refusal mentioning '$text', got (exit $status): $output"
    failures=$((failures + 1))
  fi
}

# One stage per host; a TP group of 2 on each host.
expect_map "--hosts a:1,b:1,c:1 --pp 3" "a b c"
expect_map "--hosts a:2,b:2,c:2 --tp 2 --pp 3" "a a b b c c"
# Stages are spread over the hosts, not packed onto the first ones.
expect_map "--hosts a:4,b:4 --tp 1 --pp 2" "a b"
expect_map "--hosts a:4,b:4,c:4 --tp 2 --pp 3" "a a b b c c"
# Two stages fit on a (4 slots), one on b: a takes its fair share of 3 stages over 2 hosts.
expect_map "--hosts a:4,b:4 --tp 2 --pp 3" "a a a a b b"
# a cannot hold a stage of 2 (1 slot): everything goes to b; c is never used.
expect_map "--hosts a:1,b:4,c:1 --tp 2 --pp 2" "b b b b"
# A small host later in the list: the first host takes more so that the rest still fits.
expect_map "--hosts a:6,b:2 --tp 2 --pp 4" "a a a a a a b b"
# Defaults: --tp = the smallest host's slots, --pp = the stages that fit.
expect_map "--hosts a:2,b:2" "a a b b"
expect_map "--hosts a:4,b:2" "a a a a b b"
# Host order is rank order, whichever host launches.
expect_map "--hosts c:1,a:1,b:1 --pp 3" "c a b"

hostfile=$(mktemp)
trap 'rm -f "$hostfile"' EXIT
printf '# cluster\nn1 slots=2   # first\n\nn2 slots=2 max_slots=4\n' >"$hostfile"
expect_map "--hostfile $hostfile --tp 2 --pp 2" "n1 n1 n2 n2"

expect_refusal "--hosts a:3,b:3 --tp 2 --pp 3" "cannot place --tp 2 --pp 3"
expect_refusal "--hosts a:3,b:3 --tp 2 --pp 3" "a (3 slots) 1, b (3 slots) 1"
expect_refusal "--hosts a:1,b:1 --tp 4" "cannot place --tp 4"
expect_refusal "--hosts a:2,a:2" "host a is listed twice"
expect_refusal "--hosts a:0" "slots must be a positive number"
expect_refusal "--hosts a:2 --tp x" "--tp must be a positive number"
printf 'n1 slot=2\n' >"$hostfile"
expect_refusal "--hostfile $hostfile" "unknown field 'slot=2'"
# --tp/--pp belong to the launcher, which places by them.
output=$("$launch" --hosts a:2 --dry-run -- generate --model m --pp 2 2>&1) && failures=$((failures + 1))
grep -q "give --pp to shardlm-launch" <<<"$output" || { echo "FAIL: --pp after --: $output"; failures=$((failures + 1)); }

# A host that goes silent is noticed through keepalive on mpirun's daemon connections, unless the
# user set those parameters.
output=$("$launch" --hosts a:1 --dry-run -- generate --model m 2>&1)
grep -q -- "--mca oob_tcp_keepalive_time 10 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3" \
  <<<"$output" || { echo "FAIL: no keepalive defaults: $output"; failures=$((failures + 1)); }
output=$("$launch" --hosts a:1 --mca oob_tcp_keepalive_time 60 --dry-run -- generate --model m 2>&1)
[ "$(grep -o "oob_tcp_keepalive_time [0-9]*" <<<"$output")" = "oob_tcp_keepalive_time 60" ] ||
  { echo "FAIL: the user's keepalive time is not the only one: $output"; failures=$((failures + 1)); }

if [ "$failures" -gt 0 ]; then
  echo "$failures placement check(s) failed"
  exit 1
fi
echo "placement: all checks passed"
