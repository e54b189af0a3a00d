#!/usr/bin/env python3
"""Perplexity throughput with data-parallel replicas: tokens/s of `shardlm perplexity` for each replica
count, each replica a whole model copy (or a --tp/--pp shard group) scoring its share of the windows.
Writes a Markdown table into docs/benchmarks.md between the perplexity-replicas markers and prints it.

Usage: python3 bench/perplexity_replicas.py [--replicas 1,2] [--model DIR --data FILE] [--seq-len 256]
       [--repeats 3] [--threads N] [--section NAME] [--no-docs]
"""
import argparse
import os
import statistics
import sys
import tempfile

from benchlib import ROOT, provenance, publish, shardlm_output_json


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "tiny-en"))
    parser.add_argument("--data", default=os.path.join(ROOT, "models", "tiny-en", "heldout.txt"))
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="threads per rank (default: cores / ranks)")
    parser.add_argument("--section", default="perplexity-replicas")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        for replicas in (int(r) for r in args.replicas.split(",")):
            command = ["perplexity", "--model", args.model, "--data", args.data, "--seq-len", args.seq_len,
                       "--num-samples", -1, "--batch-size", args.batch_size, "--replicas", replicas, "--output", out]
            if args.threads:
                command += ["--threads", args.threads]
            trials = [shardlm_output_json(replicas, command, out) for _ in range(args.repeats)]
            rate = [t["tokens_per_second"] for t in trials]
            rows.append((replicas, statistics.median(rate), min(rate), max(rate), trials[0]))
            print(f"replicas {replicas}: {rate}", file=sys.stderr)

    base = rows[0][1]
    lines = [
        provenance(),
        f"`shardlm perplexity` on `{os.path.relpath(args.model, ROOT)}` with `{os.path.relpath(args.data, ROOT)}`, "
        f"every window of {args.seq_len} tokens, batch {args.batch_size}; median of {args.repeats} runs "
        "(min–max in brackets). Each replica is one rank holding the whole model; threads per rank: "
        + (str(args.threads) if args.threads else "cores / ranks") + ".",
        "",
        "| replicas | windows | perplexity | tokens/s | speed-up | peak RSS per rank (MB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for replicas, median, low, high, first in rows:
        lines.append(f"| {replicas} | {first['windows']} | {first['perplexity']:.4f} | {median:.0f} ({low:.0f}–{high:.0f}) "
                     f"| {median / base:.2f}× | {first['peak_rss_bytes_max'] / 1e6:.1f} |")
    publish(lines, args.section, not args.no_docs)


if __name__ == "__main__":
    main()
