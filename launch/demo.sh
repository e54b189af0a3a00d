#!/usr/bin/env bash
# The README's first command: installs what is missing, builds shardlm, and runs sharded generation as
# an MPI job of two ranks (tensor-parallel). Extra arguments go to `shardlm generate`, e.g.
#   bash launch/demo.sh --prompt "..." --temp 0.7 --max-tokens 64 --pp 2 --tp 1
# SHARDLM_MODEL picks another model folder, SHARDLM_RANKS another number of ranks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/launch/build.sh"
model=${SHARDLM_MODEL:-$root/models/tiny-en}
ranks=${SHARDLM_RANKS:-2}
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--prompt "In the beginning" --max-tokens 64 --temp 0.7 --top-p 0.9 --seed 1)
echo "+ launch/shardlm-run -np $ranks generate --model ${model#"$root"/} ${args[*]}" >&2
exec "$root/launch/shardlm-run" -np "$ranks" generate --model "$model" "${args[@]}"
