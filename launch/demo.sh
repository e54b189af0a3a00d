#!/usr/bin/env bash
# The README's first command: installs what is missing, builds shardlm, and generates text.
# Extra arguments go to `shardlm generate` (e.g. --prompt "..." --temp 0.7 --max-tokens 64).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/launch/build.sh"
model="$root/tests/fixtures/llama_bf16"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--prompt "This License applies to" --max-tokens 48 --temp 0.7 --seed 1)
echo "shardlm generate --model ${model#$root/} ${args[*]}" >&2
exec "$root/build/bin/shardlm" generate --model "$model" "${args[@]}"
