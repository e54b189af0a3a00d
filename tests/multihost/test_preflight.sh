#!/usr/bin/env bash
# shardlm-launch refuses, before mpirun starts, a job that a host cannot run: unreachable or silent,
# lacking the model or holding a different one, a different binary, too little memory, a layout the
# model does not admit. Each message must name the host and the check.
#
# The simulated hosts share one file system, so a host's files are made to differ with a bind mount
# that only commands on that host see (netns_agent.sh, SHARDLM_TEST_BIND): what the pre-flight reads
# there is really different, nothing is faked in the launcher.
#   test_preflight.sh SHARDLM_BINARY
set -euo pipefail
SHARDLM_BINARY=${1:?usage: test_preflight.sh SHARDLM_BINARY}
# shellcheck source-path=SCRIPTDIR source=netns_hosts.sh
source "$(dirname "$0")/netns_hosts.sh"
netns_up

# The model lives in a folder of its own, so that a host can lack the folder itself.
mkdir -p "$MH_WORK/models" "$MH_WORK/nothing" "$MH_WORK/other"
cp -r "$MH_FIXTURES/llama_f32" "$MH_WORK/models/llama"
model=$MH_WORK/models/llama
cp "$SHARDLM_BINARY" "$MH_WORK/shardlm-other" # same version, one byte more
printf '\0' >>"$MH_WORK/shardlm-other"
printf 'MemTotal: 1000 kB\nMemAvailable: 100 kB\n' >"$MH_WORK/meminfo"
three_hosts=(--hosts "10.77.0.1:1,10.77.0.2:1,10.77.0.3:1" --pp 3)
export SHARDLM_PREFLIGHT_TIMEOUT=3 # the silent host costs this long

# refused NAME "MESSAGE"... -- LAUNCH-ARGS...: the launch must fail with every MESSAGE and never start mpirun.
refused() {
  local name=$1 status=0 start=$SECONDS expected=()
  shift
  while [ "$1" != -- ]; do
    expected+=("$1")
    shift
  done
  shift
  # The shardlm command: a short generation, unless the case gives its own after a second --.
  if [[ " $* " != *" -- "* ]]; then set -- "$@" -- generate --model "$model" --prompt-ids 1,2,3 --max-tokens 4; fi
  launch_on_host0 "$@" >"$MH_WORK/$name.out" 2>"$MH_WORK/$name.err" || status=$?
  [ "$status" -ne 0 ] || fail "$name: the launch succeeded:$(echo && cat "$MH_WORK/$name.err")"
  [ "$status" -ne 124 ] || fail "$name: the pre-flight hung"
  for message in "${expected[@]}"; do
    grep -qF -- "$message" "$MH_WORK/$name.err" ||
      fail "$name: no '$message' in:$(echo && cat "$MH_WORK/$name.err")"
  done
  if grep -q "starting: mpirun" "$MH_WORK/$name.err"; then fail "$name: mpirun was started"; fi
  echo "ok: $name ($((SECONDS - start)) s): $(grep -m 1 'pre-flight failed\|cannot\|refused' "$MH_WORK/$name.err")"
}

# A host that is not there (10.77.0.9 answers nothing on the test network).
refused unreachable "pre-flight failed: host 10.77.0.9: reachable:" "No route to host" "mpirun not started" \
  -- --hosts 10.77.0.1:1,10.77.0.2:1,10.77.0.9:1 --pp 3

# A host that accepts the connection and then says nothing: the per-host timeout ends the wait.
SHARDLM_TEST_HANG=10.77.0.2 refused silent "pre-flight failed: host 10.77.0.2: reachable: no answer within 3s" \
  -- "${three_hosts[@]}"

# A host without the model folder.
SHARDLM_TEST_BIND="10.77.0.3:$MH_WORK/nothing:$MH_WORK/models" refused no-model \
  "pre-flight failed: host 10.77.0.3: model: folder $model not found" -- "${three_hosts[@]}"

# A host with another model in that folder (the Mistral fixture): config and weights header differ.
SHARDLM_TEST_BIND="10.77.0.2:$MH_FIXTURES/mistral_f32:$model" refused other-model \
  "pre-flight failed: host 10.77.0.2: model: $model/config.json differs" \
  "pre-flight failed: host 10.77.0.2: model: $model/model.safetensors differs" -- "${three_hosts[@]}"

# A host whose model lacks one file that this host's has.
cp -r "$model/." "$MH_WORK/other"
rm "$MH_WORK/other/generation_config.json"
SHARDLM_TEST_BIND="10.77.0.3:$MH_WORK/other:$model" refused missing-file \
  "pre-flight failed: host 10.77.0.3: model: $model/generation_config.json is missing" -- "${three_hosts[@]}"

# A prompts file that only this host has: rank 0 alone reads it, but every rank's shardlm checks that
# it exists, and a rank that refuses its command line alone leaves the others waiting for it forever.
mkdir -p "$MH_WORK/inputs"
echo '{"prompt": "hello", "max_tokens": 4}' >"$MH_WORK/inputs/prompts.jsonl"
SHARDLM_TEST_BIND="10.77.0.2:$MH_WORK/nothing:$MH_WORK/inputs" refused input \
  "pre-flight failed: host 10.77.0.2: input: $MH_WORK/inputs/prompts.jsonl not found" \
  -- "${three_hosts[@]}" -- generate --model "$model" --prompts "$MH_WORK/inputs/prompts.jsonl"

# A host with a different build of shardlm at the same path.
SHARDLM_TEST_BIND="10.77.0.3:$MH_WORK/shardlm-other:$SHARDLM_BINARY" refused other-binary \
  "pre-flight failed: host 10.77.0.3: binary: $SHARDLM_BINARY differs" -- "${three_hosts[@]}"

# A host with too little memory for its shard.
SHARDLM_TEST_BIND="10.77.0.2:$MH_WORK/meminfo:/proc/meminfo" refused memory \
  "pre-flight failed: host 10.77.0.2: memory: its ranks need" "MemAvailable is 0.1 MiB" -- "${three_hosts[@]}"

# Two hosts failing at once are both reported.
SHARDLM_TEST_BIND="10.77.0.2:$MH_WORK/meminfo:/proc/meminfo 10.77.0.3:$MH_WORK/nothing:$MH_WORK/models" \
  refused two-hosts "host 10.77.0.2: memory" "host 10.77.0.3: model" "2 pre-flight check(s) failed" \
  -- "${three_hosts[@]}"

# A layout the model does not admit (8 heads, --tp 3) is refused by shardlm itself, before any host.
refused layout "tp 3 does not divide the 8 attention heads" "shardlm refused the layout" -- --hosts 10.77.0.1:3 --tp 3 --pp 1

echo "multihost pre-flight: all checks passed"
