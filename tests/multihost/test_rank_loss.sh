#!/usr/bin/env bash
# A job that loses a rank or a host mid-generation must end promptly, non-zero, saying which rank or
# host was lost, and leave no process behind.
#   test_rank_loss.sh local SHARDLM_BINARY SYNTHETIC_MODEL_WRITER
#       two ranks on this machine (launch/shardlm-run); rank 1 is SIGKILLed: the job ends within 10 s.
#   test_rank_loss.sh hosts SHARDLM_BINARY SYNTHETIC_MODEL_WRITER
#       three simulated hosts (launch/shardlm-launch): the rank on 10.77.0.3 is SIGKILLed (ends within
#       10 s); then 10.77.0.2 drops off the network (ends within 30 s: mpirun's daemon keepalive,
#       which shardlm-launch sets to 10 s + 3 x 2 s).
set -euo pipefail
mode=${1:?usage: test_rank_loss.sh local|hosts SHARDLM_BINARY SYNTHETIC_MODEL_WRITER}
SHARDLM_BINARY=${2:?shardlm binary}
writer=${3:?shardlm-synthetic-model binary}
# shellcheck source-path=SCRIPTDIR source=netns_hosts.sh
source "$(dirname "$0")/netns_hosts.sh"
job=""
# A test that fails midway stops its job too: mpirun takes its ranks down on SIGTERM (in the namespaces,
# netns_down stops whatever is left).
if [ "$mode" = hosts ]; then
  netns_up
else
  trap 'if [ -n "$job" ]; then kill "$job" 2>/dev/null || true; fi; rm -rf "$MH_WORK"' EXIT
fi

# A model with a long context (2048 positions; the fixtures have 256), big enough that a greedy
# generation to the end of the context takes several seconds on two cores.
model=$MH_WORK/model
"$writer" --out "$model" --vocab 512 --hidden 512 --intermediate 1024 --layers 4 --heads 4 --kv-heads 4 >/dev/null
cp "$MH_FIXTURES/tokenizer/tokenizer.model" "$model/"
generate=(generate --model "$model" --prompt "Once upon a time" --max-tokens 100000 --temp 0 --threads 1)

wait_for_output() { # file: generation has started once text streams out
  local deadline=$((SECONDS + 30))
  until [ -s "$1" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no output within 30 s:$(echo && cat "${1%.out}.err")"
    sleep 0.1
  done
}

running() { # pid: alive and not a zombie (an orphaned rank is reaped by init, which may take a while)
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) && [ "$state" != Z ]
}

children_of() { # pid -> its child processes (from /proc: procps may not be installed)
  local stat
  for stat in /proc/[0-9]*/stat; do
    # Fields after the command name, which ends with ") ": state, parent pid, ...
    [ "$(sed 's/.*) //' "$stat" 2>/dev/null | cut -d' ' -f2)" != "$1" ] || basename "$(dirname "$stat")"
  done
}

ranks_in() { # pids... -> "pid rank" of each shardlm among them
  local pid rank
  for pid in "$@"; do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = shardlm ] || continue
    rank=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
    echo "$pid $rank"
  done
}

# wait_for_end PID LIMIT NAME: the job must end within LIMIT seconds, non-zero. Sets $elapsed.
wait_for_end() {
  local pid=$1 limit=$2 name=$3 start=$SECONDS status=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ $((SECONDS - start)) -gt "$limit" ]; then fail "$name: the job still runs $limit s later"; fi
    sleep 0.1
  done
  elapsed=$((SECONDS - start))
  wait "$pid" || status=$?
  [ "$status" -ne 0 ] || fail "$name: the job exited 0"
  echo "$name: job ended $elapsed s later with exit $status"
}

expect_message() { # file pattern name
  grep -Eq "$2" "$1" || fail "$3: no /$2/ in:$(echo && cat "$1")"
  echo "$3: $(grep -Eo "$2" "$1" | head -n 1)"
}

if [ "$mode" = local ]; then
  SHARDLM_BIN=$SHARDLM_BINARY "$MH_ROOT/launch/shardlm-run" -np 2 "${generate[@]}" --pp 2 \
    >"$MH_WORK/local.out" 2>"$MH_WORK/local.err" &
  job=$! # shardlm-run, which runs mpirun as its child; mpirun starts the ranks as its children
  wait_for_output "$MH_WORK/local.out"
  read -r -a children <<<"$(for launcher in $(children_of "$job"); do children_of "$launcher"; done | tr '\n' ' ')"
  mapfile -t ranks < <(ranks_in "${children[@]}")
  [ ${#ranks[@]} -eq 2 ] || fail "local: expected 2 ranks under mpirun, found: ${ranks[*]}"
  victim=$(printf '%s\n' "${ranks[@]}" | awk '$2 == 1 { print $1 }')
  [ -n "$victim" ] || fail "local: no rank 1 among ${ranks[*]}"
  kill -9 "$victim"
  wait_for_end "$job" 10 "local: rank 1 killed"
  expect_message "$MH_WORK/local.err" "process rank 1 with PID [0-9]+ on node [^ ]+ exited on signal 9" "local"
  for entry in "${ranks[@]}"; do
    if running "${entry%% *}"; then fail "local: rank ${entry#* } (pid ${entry%% *}) outlived the job"; fi
  done
  echo "rank loss (local): all checks passed"
  exit 0
fi

[ "$mode" = hosts ] || fail "unknown mode '$mode' (local or hosts)"

# Every process of the job, on every simulated host, must be gone within 10 s of its end.
expect_no_leftovers() {
  local deadline=$((SECONDS + 10)) left
  while :; do
    left=$(for i in 0 1 2; do ip netns pids "$MH_NETNS$i"; done)
    [ -n "$left" ] || return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "$1: processes left 10 s after the job: $(for pid in $left; do tr '\0' ' ' <"/proc/$pid/cmdline"; echo; done)"
    fi
    sleep 0.2
  done
}

start_job() { # name: the pp=3 job across the three hosts, one stage each
  launch_on_host0 --hosts 10.77.0.1:1,10.77.0.2:1,10.77.0.3:1 --pp 3 -- "${generate[@]}" \
    >"$MH_WORK/$1.out" 2>"$MH_WORK/$1.err" &
  job=$!
  wait_for_output "$MH_WORK/$1.out"
}

# 1. A rank dies (SIGKILL, as the OOM killer does it) on 10.77.0.3.
start_job kill
for i in 0 1 2; do # each host runs the rank the launcher placed there: rank i on 10.77.0.(i+1)
  read -r -a members <<<"$(ip netns pids "$MH_NETNS$i" | tr '\n' ' ')"
  read -r pid rank < <(ranks_in "${members[@]}")
  [ "${rank:-}" = "$i" ] || fail "kill: host 10.77.0.$((i + 1)) runs rank '${rank:-none}', expected $i"
done
kill -9 "$pid" # rank 2's, the last one read
wait_for_end "$job" 10 "kill: rank 2 on 10.77.0.3 killed"
expect_message "$MH_WORK/kill.err" "process rank 2 with PID [0-9]+ on node 10\.77\.0\.3 exited on signal 9" "kill"
expect_no_leftovers kill

# 2. A host drops off the network: no process dies, nothing is closed, only silence.
start_job partition
ip link set "${MH_NETNS}v1" down
wait_for_end "$job" 30 "partition: 10.77.0.2 cut off"
expect_message "$MH_WORK/partition.err" "ORTE has lost communication with a remote daemon" "partition"
expect_message "$MH_WORK/partition.err" "Remote daemon: [^ ]+ on node 10\.77\.0\.2" "partition"
ip link set "${MH_NETNS}v1" up
expect_no_leftovers partition
echo "rank loss (hosts): all checks passed"
