#!/usr/bin/env python3
"""Quality of uniform quantization: perplexity and KL(original || quantized) of `shardlm quantize`
outputs at several bit widths, on every held-out window. Rewrites the uniform-quality section of
docs/quantization.md and prints the table.

Usage: python3 bench/quantization_quality.py [--model DIR --data FILE] [--formats 8:64,4:64,4:32] [--seq-len 256]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from benchlib import BIN, ROOT, provenance


def evaluate(model, data, seq_len, base, out):
    command = [os.path.join(BIN, "shardlm"), "perplexity", "--model", model, "--data", data, "--seq-len",
               str(seq_len), "--num-samples", "-1", "--output", out]
    if base:
        command += ["--base-model", base]
    subprocess.run(command, check=True, capture_output=True, text=True)
    with open(out) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "tiny-en"))
    parser.add_argument("--data", default=os.path.join(ROOT, "models", "tiny-en", "heldout.txt"))
    parser.add_argument("--formats", default="8:64,6:64,5:64,4:64,4:32,3:64,2:64", help="bits:group_size list")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        original = evaluate(args.model, args.data, args.seq_len, None, out)
        rows.append(("original (bf16)", None, original, None))
        for spec in args.formats.split(","):
            bits, group = spec.split(":")
            folder = os.path.join(tmp, f"q{bits}g{group}")
            report = subprocess.run([os.path.join(BIN, "shardlm"), "quantize", "--model", args.model, "--out", folder,
                                     "--bits", bits, "--group-size", group], check=True, capture_output=True,
                                    text=True).stdout.strip()
            bpw = float(report.split(": ")[1].split(" bits per weight")[0])
            result = evaluate(folder, args.data, args.seq_len, args.model, out)
            rows.append((f"{bits}-bit, group {group}", bpw, result, report))
            print(report, file=sys.stderr)

    base_ppl = original["perplexity"]
    lines = [
        provenance(),
        f"Model `{os.path.relpath(args.model, ROOT)}`, data `{os.path.relpath(args.data, ROOT)}`: all "
        f"{original['windows']} windows of {args.seq_len} tokens ({original['tokens_scored']:.0f} tokens scored). "
        "KL is the mean KL(original ‖ quantized) per scored token; bits per weight count every byte of every "
        "tensor over the original parameter count, as mlx-lm does.",
        "",
        "| weights | bits per weight | perplexity | vs original | KL(original ‖ quantized) | top-1 agreement |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| original (bf16) | 16.00 | {base_ppl:.4f} ± {original['std_error']:.4f} | — | — | — |",
    ]
    for name, bpw, result, _ in rows[1:]:
        kl = result["kl"]
        lines.append(f"| {name} | {bpw:.3f} | {result['perplexity']:.4f} ± {result['std_error']:.4f} | "
                     f"{100 * (result['perplexity'] / base_ppl - 1):+.2f}% | {kl['mean']:.5f} ± {kl['std_error']:.5f} | "
                     f"{100 * kl['top1_agreement']:.2f}% |")
    lines += ["", "Command: `python3 bench/quantization_quality.py " + " ".join(sys.argv[1:]) + "`"]
    table = "\n".join(lines)
    print(table)
    if args.no_docs:
        return
    path = os.path.join(ROOT, "docs", "quantization.md")
    with open(path) as f:
        text = f.read()
    begin, end = "<!-- uniform-quality:begin -->", "<!-- uniform-quality:end -->"
    start, stop = text.index(begin) + len(begin), text.index(end)
    with open(path, "w") as f:
        f.write(text[:start] + "\n" + table + "\n" + text[stop:])


if __name__ == "__main__":
    main()
