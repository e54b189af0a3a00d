#!/usr/bin/env python3
"""Layout sweep: `shardlm bench` for every tp x pp layout, threads per rank and weight format, with the
results written into a section of docs/benchmarks.md and plotted (generation tokens/s and memory per
rank against the number of ranks).

Each layout runs as one MPI job through launch/shardlm-run. Besides the main table the section holds the
distributed-overhead comparison: every tensor-parallel layout of N ranks x T threads against one rank of
N*T threads on the same model (the extra 1-rank runs are added to the matrix when missing).

Usage: python3 bench/sweep.py [--config bench/configs/llama-1b.json | --model DIR] [--dtypes f32,bf16,bf16-exact,q8,q4]
       [--layouts 1x1,2x1,1x2] [--threads auto | 1,2] [--prompt-tokens 512] [--gen-tokens 32]
       [--trials 3] [--warmup 1] [--rounds 1] [--section sweep] [--out DIR] [--no-docs] [--no-plots]
"bf16-exact" is bf16 weights run with --exact-bf16. With f32 among the formats a table compares one-rank
runs with the kernel targets (prefill speed against f32 weights, decode against the probe). Layouts are TPxPP. Threads "auto" gives each rank cores / ranks threads. Without --layouts the matrix
fits the machine: up to 2 ranks on a 2-core machine, up to 8 on a 16-core one. Plots need matplotlib
(python3-matplotlib) or gnuplot (gnuplot-nox); without either they are skipped with a message.
--rounds R runs the whole matrix R times over, one configuration after another, and reports the median
of each figure over the rounds: on a machine whose memory bandwidth drifts, every configuration then sees
the same slow and fast minutes, and each overhead ratio is the median of ratios taken within a round.
--report-from DIR/sweep.json --section NAME rewrites a section (tables and plots) from results kept by
--out, running nothing: a sweep cut short keeps the rounds it finished. Several files, comma-separated,
make one section (say, formats swept at different times), which names every command that measured them.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from benchlib import BIN, ROOT, measurement_facts, provenance, publish, shardlm_output_json


def default_layouts(cores):
    """TPxPP layouts that fit the machine: every rank gets at least one core."""
    if cores <= 2:
        return ["1x1", "2x1", "1x2"]
    layouts = []
    for ranks in (1, 2, 4, 8):
        if ranks > cores:
            break
        layouts.append(f"{ranks}x1")
        if ranks >= 2:
            layouts.append(f"1x{ranks}")
        if ranks >= 4:
            layouts.append(f"{ranks // 2}x2")
    return layouts


def parse_layouts(text):
    layouts = []
    for item in text.split(","):
        tp, pp = (int(x) for x in item.lower().split("x"))
        layouts.append((tp, pp))
    return layouts


def thread_counts(option, ranks, cores):
    if option == "auto":
        return [max(1, cores // ranks)]
    return [int(t) for t in option.split(",")]


def run_bench(args, tp, pp, threads, dtype, out):
    command = ["bench", "--tp", tp, "--pp", pp, "--threads", threads, "--gen-tokens", args.gen_tokens,
               "--warmup", args.warmup, "--trials", args.trials, "--json", out, "--prompt-tokens"]
    command += [int(p) for p in args.prompt_tokens.split(",")]
    if args.model:
        command += ["--model", args.model]
    else:
        command += ["--config", args.config, "--dummy", "--dtype", dtype.removesuffix(EXACT_SUFFIX)]
    if dtype.endswith(EXACT_SUFFIX):
        command.append("--exact-bf16")
    print(f"sweep: tp{tp} pp{pp}, {threads} threads/rank, {dtype}", file=sys.stderr, flush=True)
    try:
        results = shardlm_output_json(tp * pp, command, out)
    except subprocess.CalledProcessError as error:
        sys.stderr.write(error.stdout + error.stderr)
        raise
    facts = measurement_facts()
    for r in results:
        r["format"] = dtype
        r["measured"] = facts
    return results


# A weight format named "bf16-exact" runs bf16 weights with --exact-bf16 (prefill activations split in two
# bf16 parts rather than rounded to bf16).
EXACT_SUFFIX = "-exact"


def weight_format(result):
    return result.get("format", result["dtype"])


def ranks_of(result):
    layout = result["layout"]
    return layout["tp"] * layout["pp"] * layout["replicas"]


def layout_name(result):
    return f"tp{result['layout']['tp']} pp{result['layout']['pp']}"


def main_table(results):
    lines = [
        "| layout | ranks | threads/rank | quant | prompt | prompt tok/s | generation tok/s (min–max) | TTFT s | "
        "memory GB/rank (max) | memory GB (all ranks) | weights GB/rank | decode GB/s | probe GB/s | % roofline | "
        "MPI ms/token |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {layout_name(r)} | {ranks_of(r)} | {r['layout']['threads']} | {weight_format(r)} | {r['prompt_tokens']} | "
            f"{r['prompt_tokens_per_s']:.1f} | {r['generation_tokens_per_s']:.2f} "
            f"({r['generation_tokens_per_s_min']:.2f}–{r['generation_tokens_per_s_max']:.2f}) | {r['ttft_s']:.2f} | "
            f"{r['peak_rss_bytes_max'] / 1e9:.2f} | {r['peak_rss_bytes_sum'] / 1e9:.2f} | "
            f"{r['weight_bytes_per_rank'] / 1e9:.2f} | {r['decode_bandwidth_gbs']:.1f} | {r['probe_bandwidth_gbs']:.1f} | "
            f"{r['roofline_percent']:.0f}% | {1e3 * r['mpi_seconds_per_token']:.2f} |")
    return lines


def run_key(result):
    layout = result["layout"]
    return (layout["tp"], layout["pp"], layout["replicas"], layout["threads"], weight_format(result),
            result["prompt_tokens"], result["batch"])


def merge_rounds(rounds):
    """One result per configuration from the results of every round: the median of each figure over the
    rounds, the least of the minima and the largest of the maxima; generation tok/s of each round kept
    in generation_tokens_per_s_rounds."""
    by_key = {}
    for results in rounds:
        for r in results:
            by_key.setdefault(run_key(r), []).append(r)
    merged = []
    for runs in by_key.values():
        result = dict(runs[0])
        for field, value in runs[0].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            values = [r[field] for r in runs]
            if field.endswith("_min"):
                result[field] = min(values)
            elif field.endswith("_max"):
                result[field] = max(values)
            else:
                result[field] = statistics.median(values)
            if isinstance(value, int):
                result[field] = round(result[field])
        result["generation_tokens_per_s_rounds"] = [r["generation_tokens_per_s"] for r in runs]
        result["rounds"] = len(runs)
        merged.append(result)
    return merged


def generation_ratio(result, base):
    """Generation tok/s of `result` over that of `base`: the median of the per-round ratios where both
    ran in rounds."""
    ours, theirs = result.get("generation_tokens_per_s_rounds"), base.get("generation_tokens_per_s_rounds")
    if ours and theirs and len(ours) == len(theirs):
        return statistics.median(a / b for a, b in zip(ours, theirs))
    return result["generation_tokens_per_s"] / base["generation_tokens_per_s"]


def overhead_pairs(results):
    """(N x T result, 1 x N*T result) for every tensor-parallel layout with a matching one-rank run."""
    single = {(weight_format(r), r["prompt_tokens"], r["layout"]["threads"]): r for r in results if ranks_of(r) == 1}
    pairs = []
    for r in results:
        layout = r["layout"]
        if layout["tp"] < 2 or layout["pp"] != 1:
            continue
        base = single.get((weight_format(r), r["prompt_tokens"], layout["tp"] * layout["threads"]))
        if base is not None:
            pairs.append((r, base))
    return pairs


def overhead_table(pairs):
    lines = [
        "| N ranks × T threads | vs 1 rank × N·T threads | quant | prompt | generation tok/s | 1-rank generation tok/s "
        "| ratio | ratio of best trials | prompt tok/s ratio | MPI ms/token |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r, base in pairs:
        n, t = r["layout"]["tp"], r["layout"]["threads"]
        ratio = generation_ratio(r, base)
        best_ratio = r["generation_tokens_per_s_max"] / base["generation_tokens_per_s_max"]
        prompt_ratio = r["prompt_tokens_per_s"] / base["prompt_tokens_per_s"]
        lines.append(f"| {n} × {t} | 1 × {n * t} | {weight_format(r)} | {r['prompt_tokens']} | "
                     f"{r['generation_tokens_per_s']:.2f} | {base['generation_tokens_per_s']:.2f} | {ratio:.2f} | "
                     f"{best_ratio:.2f} | {prompt_ratio:.2f} | {1e3 * r['mpi_seconds_per_token']:.2f} |")
    return lines


def targets_table(results):
    """One-rank runs against the issue's kernel targets: decode at the memory bandwidth (% of the probe) and
    prefill speed against f32 weights (OpenBLAS) of the same layout, threads and prompt."""
    f32 = {(r["layout"]["threads"], r["prompt_tokens"]): r for r in results
           if ranks_of(r) == 1 and weight_format(r) == "f32"}
    lines = ["| quant | threads | prompt | prompt tok/s | vs f32 prompt tok/s | decode GB/s | probe GB/s | % roofline |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        base = f32.get((r["layout"]["threads"], r["prompt_tokens"]))
        if ranks_of(r) != 1 or base is None:
            continue
        lines.append(f"| {weight_format(r)} | {r['layout']['threads']} | {r['prompt_tokens']} | "
                     f"{r['prompt_tokens_per_s']:.1f} | {r['prompt_tokens_per_s'] / base['prompt_tokens_per_s']:.2f}× | "
                     f"{r['decode_bandwidth_gbs']:.1f} | {r['probe_bandwidth_gbs']:.1f} | {r['roofline_percent']:.0f}% |")
    return lines if len(lines) > 3 else []


def plot_series(results):
    """{title: {series: [(ranks, value)]}} for the two plots: one line per weight format and way of splitting
    (tp, pp, tp×pp), split further by threads per rank only where a line would otherwise have two points at
    one rank count."""
    def kind(r):
        return "tp" if r["layout"]["pp"] == 1 else ("pp" if r["layout"]["tp"] == 1 else "tp×pp")

    def line(r):
        return (weight_format(r), kind(r), r["prompt_tokens"])

    seen, crowded = set(), set()
    for r in results:
        point = line(r) + (ranks_of(r),)
        if point in seen:
            crowded.add(line(r))
        seen.add(point)
    several_prompts = len({r["prompt_tokens"] for r in results}) > 1
    speed, memory = {}, {}
    for r in results:
        name = f"{weight_format(r)} {kind(r)}"
        if line(r) in crowded:
            name += f" ({r['layout']['threads']} thr/rank)"
        if several_prompts:
            name += f" prompt {r['prompt_tokens']}"
        # One rank belongs to every way of splitting: it starts each tp, pp and tp×pp line.
        kinds = ["tp", "pp", "tp×pp"] if ranks_of(r) == 1 else [kind(r)]
        for k in kinds:
            series = name.replace(f" {kind(r)}", f" {k}", 1)
            speed.setdefault(series, []).append((ranks_of(r), r["generation_tokens_per_s"]))
            memory.setdefault(series, []).append((ranks_of(r), r["peak_rss_bytes_max"] / 1e9))
    # A line with the one-rank point alone says nothing.
    for table in (speed, memory):
        for series in [k for k, points in table.items() if len(points) < 2]:
            del table[series]
    return {"generation tokens/s": speed, "peak memory per rank (GB)": memory}


def plot_matplotlib(series, path, ylabel):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, points in sorted(series.items()):
        points = sorted(points)
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    axes.set_xlabel("ranks")
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_gnuplot(series, path, ylabel):
    with tempfile.TemporaryDirectory() as tmp:
        plots = []
        for i, (name, points) in enumerate(sorted(series.items())):
            data = os.path.join(tmp, f"{i}.dat")
            with open(data, "w") as f:
                f.writelines(f"{x} {y}\n" for x, y in sorted(points))
            plots.append(f"'{data}' using 1:2 with linespoints title '{name}'")
        script = "\n".join([
            "set terminal pngcairo size 770,495" if "pngcairo" in terminals() else "set terminal png size 770,495",
            f"set output '{path}'", "set xlabel 'ranks'", f"set ylabel '{ylabel}'", "set grid", "set key left top",
            "plot " + ", ".join(plots)])
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


def terminals():
    return subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True).stderr


def plotter():
    try:
        import matplotlib  # noqa: F401
        return plot_matplotlib
    except ImportError:
        pass
    if shutil.which("gnuplot"):
        return plot_gnuplot
    return None


def make_plots(results, section):
    draw = plotter()
    if draw is None:
        print("sweep: no plots (neither matplotlib nor gnuplot is installed: apt-get install python3-matplotlib "
              "or gnuplot-nox)", file=sys.stderr)
        return []
    os.makedirs(os.path.join(ROOT, "docs", "plots"), exist_ok=True)
    lines = []
    for (title, series), stem in zip(plot_series(results).items(), ("generation", "memory")):
        relative = f"plots/{section}-{stem}.png"
        draw(series, os.path.join(ROOT, "docs", relative), title)
        lines.append(f"![{title} against ranks]({relative})")
    return lines


def rounds_note(rounds):
    if rounds == 1:
        return ""
    return (f", and the median of that over {rounds} rounds of the whole matrix (each overhead ratio: the median "
            "of the ratios within a round)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", default=os.path.join(ROOT, "bench", "configs", "llama-1b.json"),
                        help="shape of a model run with random (--dummy) weights")
    source.add_argument("--model", help="a model folder instead (benchmarked in its stored format; --dtypes ignored)")
    parser.add_argument("--dtypes", default="bf16,q8,q4")
    parser.add_argument("--layouts", help="TPxPP list (default: fits the machine's cores)")
    parser.add_argument("--threads", default="auto", help="threads per rank: auto (cores / ranks) or a list")
    parser.add_argument("--prompt-tokens", default="512", help="one or more, comma-separated")
    parser.add_argument("--gen-tokens", type=int, default=32)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="run the whole matrix this many times over")
    parser.add_argument("--no-overhead", action="store_true", help="skip the extra 1-rank runs of the overhead table")
    parser.add_argument("--section", default="sweep", help="docs/benchmarks.md section to rewrite")
    parser.add_argument("--out", help="also keep every result here as sweep.json")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--report-from", metavar="SWEEP_JSON",
                        help="only rewrite the section from sweep.json files kept by --out (comma-separated), "
                        "running nothing")
    args = parser.parse_args()
    if args.report_from:
        results = []
        for path in args.report_from.split(","):
            with open(path) as f:
                results += json.load(f)
        report(results, args)
        return

    if not os.environ.get("SHARDLM_BIN") and not os.path.exists(os.path.join(BIN, "shardlm")):
        sys.exit(f"sweep: {os.path.join(BIN, 'shardlm')} not found; build first or set SHARDLM_BIN")
    cores = os.cpu_count()
    layouts = parse_layouts(args.layouts) if args.layouts else parse_layouts(",".join(default_layouts(cores)))
    dtypes = ["stored"] if args.model else args.dtypes.split(",")
    runs = []
    for tp, pp in layouts:
        for threads in thread_counts(args.threads, tp * pp, cores):
            runs += [(tp, pp, threads, dtype) for dtype in dtypes]
    if not args.no_overhead:
        for tp, pp, threads, dtype in list(runs):
            if tp > 1 and pp == 1 and (1, 1, tp * threads, dtype) not in runs:
                runs.append((1, 1, tp * threads, dtype))

    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        for round_index in range(args.rounds):
            if args.rounds > 1:
                print(f"sweep: round {round_index + 1} of {args.rounds}", file=sys.stderr, flush=True)
            rounds.append([r for tp, pp, threads, dtype in runs for r in run_bench(args, tp, pp, threads, dtype, out)])
            # Kept after every round, so that a run cut short still leaves its whole rounds.
            results = merge_rounds(rounds) if args.rounds > 1 else rounds[0]
            results.sort(key=lambda r: (weight_format(r), r["layout"]["pp"] > 1 and r["layout"]["tp"] > 1,
                                        r["layout"]["pp"], ranks_of(r), r["layout"]["threads"], r["prompt_tokens"]))
            if args.out:
                os.makedirs(args.out, exist_ok=True)
                with open(os.path.join(args.out, "sweep.json"), "w") as f:
                    json.dump(results, f, indent=2)

    report(results, args)


def report(results, args):
    """The section's text from the results: provenance, the tables and the plots."""
    first = results[0]
    model = first["model"] + (" (random weights)" if first.get("format", "stored") != "stored" else "")
    rounds = first.get("rounds", 1)
    lines = [
        provenance(first.get("measured")) + f" Kernels: `{first['machine']['kernel']}`. Ranks share the host's "
        "cores, so a layout's ranks × threads never exceeds them unless --threads says otherwise.",
        f"Model: `{model}`; batch {first['batch']}, {first['gen_tokens']} generated tokens, median of "
        f"{len(first['trials'])} trials after {first['warmup']} warm-up{rounds_note(rounds)} (generation tok/s "
        "min–max in brackets). Memory is the peak resident set; decode GB/s is the largest rank's weight bytes per "
        "decode step time, against that rank's probe (% roofline).",
        "",
    ] + main_table(results)
    targets = targets_table(results)
    if targets:
        lines += ["", "One rank against the kernel targets (decode ≥ 90% of the probe for q8/q4, ≥ 85% for bf16; "
                  "prefill ≥ 1.5× f32 for bf16, ≥ 2× for q8):", ""] + targets
    pairs = overhead_pairs(results)
    if pairs:
        lines += ["", "Distributed overhead: N tensor-parallel ranks of T threads against one rank of N·T threads "
                  "(ratio = generation tok/s of the N ranks / that of the one rank; the target is ≥ 0.90; the ratio "
                  "of best trials compares the fastest trial of each, the one least disturbed by other load on a "
                  "shared machine).", ""]
        lines += overhead_table(pairs)
    if not args.no_plots:
        plot_lines = make_plots(results, args.section)
        if plot_lines:
            lines += [""] + plot_lines
    commands = list(dict.fromkeys(r.get("measured", {}).get("command") for r in results))
    if None in commands:
        commands.remove(None)
        if args.report_from:
            commands.append(f"python3 bench/sweep.py (the measuring command was not kept) --report-from {args.report_from}")
    publish(lines, args.section, not args.no_docs, commands)


if __name__ == "__main__":
    main()
