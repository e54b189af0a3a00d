#!/usr/bin/env python3
"""Per-token communication of sharded decoding: MPI time and bytes per generated token, per layout.

Runs `shardlm generate --json` under launch/shardlm-run for each layout twice, with a short and a long
generation, and divides the difference in each rank's MPI time and bytes by the extra tokens, so that
start-up and prefill cancel out. Writes a Markdown table into docs/benchmarks.md between the
comm-per-token markers and prints it.

Usage: python3 bench/comm_per_token.py [--model DIR] [--layouts 1x1,2x1,1x2,2x2] [--tokens 64] [--repeats 3]
Without --model a random bf16 Llama model is written to /tmp (hidden 1024, 8 layers, 222 MB).
"""
import argparse
import os
import statistics
import subprocess
import sys

from benchlib import BIN, provenance, publish, shardlm_json


def measure(model, tp, pp, tokens, prompt_ids):
    def generate(n):
        return shardlm_json(tp * pp, ["generate", "--model", model, "--tp", str(tp), "--pp", str(pp),
                                  "--prompt-ids", prompt_ids, "--max-tokens", str(n), "--json"])
    short, long = generate(1), generate(1 + tokens)
    steps = long["generated_tokens"] - short["generated_tokens"]
    per_rank_seconds = [(b["mpi_seconds"] - a["mpi_seconds"]) / steps for a, b in zip(short["ranks"], long["ranks"])]
    bytes_sent = sum(b["mpi_bytes_sent"] - a["mpi_bytes_sent"] for a, b in zip(short["ranks"], long["ranks"])) / steps
    messages = sum(b["mpi_messages"] - a["mpi_messages"] for a, b in zip(short["ranks"], long["ranks"])) / steps
    return {"mpi_ms_max": 1e3 * max(per_rank_seconds), "mpi_ms_mean": 1e3 * statistics.mean(per_rank_seconds),
            "bytes": bytes_sent, "messages": messages, "tps": long["generation_tps"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--layouts", default="1x1,2x1,1x2,2x2", help="TPxPP list")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--section", default="comm-per-token", help="docs/benchmarks.md section to rewrite")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()

    model = args.model
    if model is None:
        model = "/tmp/shardlm-bench-comm-model"  # rebuilt on demand, never committed
        if not os.path.exists(os.path.join(model, "model.safetensors")):
            subprocess.run([os.path.join(BIN, "shardlm-synthetic-model"), "--out", model, "--vocab", "8192",
                            "--hidden", "1024", "--intermediate", "2816", "--layers", "8", "--heads", "16",
                            "--kv-heads", "8"], check=True)
    prompt_ids = ",".join(str(i) for i in range(1, 17))

    rows = []
    for layout in args.layouts.split(","):
        tp, pp = (int(x) for x in layout.split("x"))
        trials = [measure(model, tp, pp, args.tokens, prompt_ids) for _ in range(args.repeats)]
        median = {key: statistics.median(t[key] for t in trials) for key in trials[0]}
        rows.append((tp, pp, median))
        print(f"tp{tp} pp{pp}: {median}", file=sys.stderr)

    lines = [
        provenance() + " Ranks oversubscribe the cores when there are more ranks than cores, so times include "
        "waiting for a core.",
        f"Model: `{os.path.basename(model)}`; {args.tokens} decode steps, batch 1, medians of {args.repeats} runs. "
        "MPI time is the time a rank spends inside MPI calls, waiting included; bytes and messages are summed "
        "over all ranks.",
        "",
        "| layout | ranks | MPI ms/token (slowest rank) | MPI ms/token (mean rank) | bytes sent/token | messages/token | generation tok/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tp, pp, m in rows:
        lines.append(f"| tp{tp} pp{pp} | {tp * pp} | {m['mpi_ms_max']:.3f} | {m['mpi_ms_mean']:.3f} | "
                     f"{m['bytes']:.0f} | {m['messages']:.1f} | {m['tps']:.1f} |")
    publish(lines, args.section, not args.no_docs)


if __name__ == "__main__":
    main()
