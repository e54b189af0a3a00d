#!/usr/bin/env python3
"""Quality of quantization: perplexity and KL(original || quantized) of `shardlm quantize` outputs on
every held-out window, for uniform quantization at several bit widths and for mixed precision
(`--target-bpw`, sensitivities estimated on a calibration file) against the uniform formats of equal
or higher bits per weight. Rewrites the uniform-quality and mixed-quality sections of
docs/quantization.md and prints the tables.

Usage: python3 bench/quantization_quality.py [--model DIR --data FILE] [--formats 8:64,4:64,4:32]
       [--seq-len 256] [--mixed-targets 4.75,5.0 --calibration FILE | --sensitivities FILE.json]
       [--compare 4:64,4:32,5:64]
SHARDLM_BIN names the shardlm binary (default: build/bin/shardlm).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

from benchlib import BIN, ROOT, provenance

SHARDLM = os.environ.get("SHARDLM_BIN", os.path.join(BIN, "shardlm"))


def evaluate(model, data, seq_len, base, out):
    command = [SHARDLM, "perplexity", "--model", model, "--data", data, "--seq-len", str(seq_len), "--num-samples",
               "-1", "--output", out]
    if base:
        command += ["--base-model", base]
    subprocess.run(command, check=True, capture_output=True, text=True)
    with open(out) as f:
        return json.load(f)


def quantize(model, folder, arguments):
    """Runs shardlm quantize; returns its report and the bits per weight it wrote."""
    report = subprocess.run([SHARDLM, "quantize", "--model", model, "--out", folder] + arguments, check=True,
                            capture_output=True, text=True).stdout.strip()
    print(report, file=sys.stderr)
    return report, float(re.search(r"([0-9.]+) bits per weight, ", report).group(1))


def row(name, bpw, result, base_ppl):
    kl = result["kl"]
    return (f"| {name} | {bpw:.3f} | {result['perplexity']:.4f} ± {result['std_error']:.4f} | "
            f"{100 * (result['perplexity'] / base_ppl - 1):+.2f}% | {kl['mean']:.5f} ± {kl['std_error']:.5f} | "
            f"{100 * kl['top1_agreement']:.2f}% |")


HEADER = ["| weights | bits per weight | perplexity | vs original | KL(original ‖ quantized) | top-1 agreement |",
          "| --- | --- | --- | --- | --- | --- |"]


def write_section(name, table):
    path = os.path.join(ROOT, "docs", "quantization.md")
    with open(path) as f:
        text = f.read()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    start, stop = text.index(begin) + len(begin), text.index(end)
    with open(path, "w") as f:
        f.write(text[:start] + "\n" + table + "\n" + text[stop:])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "tiny-en"))
    parser.add_argument("--data", default=os.path.join(ROOT, "models", "tiny-en", "heldout.txt"))
    parser.add_argument("--formats", default="8:64,6:64,5:64,4:64,4:32,3:64,2:64", help="bits:group_size list")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--mixed-targets", default="4.75,5.0", help="--target-bpw values (empty: no mixed table)")
    parser.add_argument("--calibration", default=os.path.join(ROOT, "models", "recipe", "work", "train.txt"),
                        help="calibration text for the sensitivities (models/recipe/prepare_corpus.sh writes it)")
    parser.add_argument("--calibration-samples", type=int, default=64)
    parser.add_argument("--calibration-seq-len", type=int, default=256)
    parser.add_argument("--sensitivities", help="sensitivities saved by an earlier run, instead of estimating them")
    parser.add_argument("--compare", default="4:64,4:32,5:64", help="uniform formats shown beside the mixed ones")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    targets = [float(t) for t in args.mixed_targets.split(",") if t]

    uniform, mixed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        original = evaluate(args.model, args.data, args.seq_len, None, out)
        for spec in args.formats.split(","):
            bits, group = spec.split(":")
            folder = os.path.join(tmp, f"q{bits}g{group}")
            _, bpw = quantize(args.model, folder, ["--bits", bits, "--group-size", group])
            uniform.append((f"{bits}-bit, group {group}", bpw, evaluate(folder, args.data, args.seq_len, args.model, out)))

        sensitivities = args.sensitivities
        calibration = None
        for target in targets:
            folder = os.path.join(tmp, f"mixed{target}")
            arguments = ["--target-bpw", str(target)]
            if sensitivities:
                arguments += ["--sensitivities", sensitivities]
            else:
                if not os.path.exists(args.calibration):
                    sys.exit(f"calibration file {args.calibration} is missing: run models/recipe/prepare_corpus.sh "
                             "or pass --calibration FILE or --sensitivities FILE.json")
                sensitivities = os.path.join(tmp, "sensitivities.json")
                calibration = (f"{args.calibration_samples} windows of {args.calibration_seq_len} tokens of "
                               f"`{os.path.relpath(args.calibration, ROOT)}`")
                arguments += ["--calibration", args.calibration, "--num-samples", str(args.calibration_samples),
                              "--seq-len", str(args.calibration_seq_len), "--save-sensitivities", sensitivities]
            _, bpw = quantize(args.model, folder, arguments)
            mixed.append((f"mixed 4/5-bit, group 64, target {target}", bpw,
                          evaluate(folder, args.data, args.seq_len, args.model, out)))

    base_ppl = original["perplexity"]
    setting = (f"Model `{os.path.relpath(args.model, ROOT)}`, data `{os.path.relpath(args.data, ROOT)}`: all "
               f"{original['windows']} windows of {args.seq_len} tokens ({original['tokens_scored']:.0f} tokens "
               "scored). KL is the mean KL(original ‖ quantized) per scored token; bits per weight count every byte "
               "of every tensor over the original parameter count, as mlx-lm does.")
    command = "Command: `python3 bench/quantization_quality.py " + " ".join(sys.argv[1:]) + "`"
    original_row = f"| original (bf16) | 16.00 | {base_ppl:.4f} ± {original['std_error']:.4f} | — | — | — |"
    uniform_table = "\n".join([provenance(), setting, ""] + HEADER + [original_row] +
                              [row(name, bpw, result, base_ppl) for name, bpw, result in uniform] + ["", command])
    print(uniform_table)
    mixed_table = None
    if mixed:
        names = [f"{bits}-bit, group {group}" for bits, group in (spec.split(":") for spec in args.compare.split(","))]
        compared = [r for r in uniform if r[0] in names]
        source = (f"Sensitivities estimated on {calibration}." if calibration else
                  f"Sensitivities from `{os.path.relpath(args.sensitivities, ROOT)}`.")
        rows = sorted(mixed + compared, key=lambda r: r[1])
        mixed_table = "\n".join(
            [provenance(), setting + " " + source, ""] + HEADER + [original_row] +
            [row(name, bpw, result, base_ppl) for name, bpw, result in rows] + ["", command])
        print(mixed_table)
    if args.no_docs:
        return
    write_section("uniform-quality", uniform_table)
    if mixed_table:
        write_section("mixed-quality", mixed_table)


if __name__ == "__main__":
    main()
