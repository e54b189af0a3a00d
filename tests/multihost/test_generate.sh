#!/usr/bin/env bash
# Sharded generation across three simulated hosts (network namespaces, MPI over TCP on 10.77.0.0/24),
# started through launch/shardlm-launch: its greedy tokens must be exactly the single-rank ones and the
# transformers reference of tests/fixtures/llama_f32.
#   test_generate.sh SHARDLM_BINARY
set -euo pipefail
SHARDLM_BINARY=${1:?usage: test_generate.sh SHARDLM_BINARY}
# shellcheck source-path=SCRIPTDIR source=netns_hosts.sh
source "$(dirname "$0")/netns_hosts.sh"
netns_up

model=$MH_FIXTURES/llama_f32
prompt=$(json_ids "$model/reference.json" prompt_ids)
reference=$(json_ids "$model/reference.json" greedy_ids)
generate=(generate --model "$model" --prompt-ids "$prompt" --max-tokens 24 --temp 0 --json --threads 1)

single=$("$SHARDLM_BINARY" "${generate[@]}" | json_ids /dev/stdin ids)
[ "$single" = "$reference" ] || fail "one rank gives $single, the reference $reference"

# run_case NAME LAUNCH-ARGS... : launches, checks the tokens; leaves stderr in $MH_WORK/NAME.err
run_case() {
  local name=$1 start ids
  shift
  start=$SECONDS
  launch_on_host0 "$@" -- "${generate[@]}" >"$MH_WORK/$name.out" 2>"$MH_WORK/$name.err" ||
    fail "$name: launch failed (exit $?):$(echo && cat "$MH_WORK/$name.err")"
  ids=$(json_ids "$MH_WORK/$name.out" ids)
  [ "$ids" = "$single" ] || fail "$name: generated $ids, one rank $single$(echo && cat "$MH_WORK/$name.err")"
  echo "ok: $name ($((SECONDS - start)) s)"
}

# --preflight-only: every host checked, nothing started.
launch_on_host0 --hosts 10.77.0.1:1,10.77.0.2:1,10.77.0.3:1 --pp 3 --preflight-only -- "${generate[@]}" \
  >"$MH_WORK/check.out" 2>"$MH_WORK/check.err" || fail "preflight-only failed:$(echo && cat "$MH_WORK/check.err")"
if [ "$(grep -c "pre-flight ok: host" "$MH_WORK/check.err")" != 3 ] || [ -s "$MH_WORK/check.out" ] ||
  grep -q "starting:" "$MH_WORK/check.err"; then
  fail "preflight-only:$(echo && cat "$MH_WORK/check.err")"
fi

# One pipeline stage per host.
run_case pp3 --hosts 10.77.0.1:1,10.77.0.2:1,10.77.0.3:1 --pp 3
for host in 10.77.0.1 10.77.0.2 10.77.0.3; do
  grep -q "pre-flight ok: host $host " "$MH_WORK/pp3.err" || fail "pp3: no pre-flight for $host"
done

# TP groups of two inside each host, and rank 0 on a host other than the launching one (10.77.0.1 is
# listed last). mpirun's own --display-map must show the launcher's placement: Open MPI names its
# own node by its host name.
run_case tp2pp3 --hosts 10.77.0.2:2,10.77.0.3:2,10.77.0.1:2 --tp 2 --pp 3 --mpirun-arg --display-map
placed=$(awk '/Data for node:/ { node = $4 } /Process rank:/ { print $(NF - 2), node }' "$MH_WORK/tp2pp3.out" |
  sort -n | awk '{ printf "%s%s", sep, $2; sep = " " }')
expected="10.77.0.2 10.77.0.2 10.77.0.3 10.77.0.3 sim-10-77-0-1 sim-10-77-0-1"
[ "$placed" = "$expected" ] || fail "tp2pp3: mpirun placed ranks 0-5 on '$placed', expected '$expected'"
for line in "0 10.77.0.2 0 0" "1 10.77.0.2 0 1" "2 10.77.0.3 1 0" "5 10.77.0.1 2 1"; do
  read -r rank host stage tp_rank <<<"$line"
  grep -Eq "^ +$rank +$host +$stage +$tp_rank$" "$MH_WORK/tp2pp3.err" || fail "tp2pp3: rank map lacks '$line'"
done
echo "multihost generate: all checks passed"
