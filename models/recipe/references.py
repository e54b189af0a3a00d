#!/usr/bin/env python3
"""Reference numbers that shardlm's tests compare against, from transformers.

Usage (repository root; CPU only, any machine with torch + transformers):
  python3 models/recipe/references.py --model models/tiny-en
It reloads the saved bfloat16 folders with float32 parameters on the CPU with
eager attention, so the numbers describe the committed weights computed in f32,
as the C++ engine computes them.  Writes
  <model>/reference_perplexity.json   perplexity of <model>/heldout.txt, L=256 and 128
  <model>/reference_generation.json   greedy continuation of "In the beginning"
  tests/fixtures/perplexity/reference.json   perplexity of text.txt, L=64, for the
                                      random golden fixtures llama_f32 and qwen3_bf16
"""
import argparse
import json
import math
import os
import re
import time

import sentencepiece as spm
import torch
import transformers
from transformers import AutoModelForCausalLM

BOS = 1
WINDOWING = ("split the text into documents at blank lines (stripped, empty ones skipped); "
             "encode each with sentencepiece and prepend BOS (no EOS); concatenate in file order; "
             "cut into non-overlapping windows of seq_len tokens from 0, dropping the incomplete tail; "
             "in each window score positions 1..seq_len-1 given the preceding tokens of the same window; "
             "perplexity = exp(mean NLL over all scored tokens), "
             "std_error = perplexity * sd(NLL, ddof=1) / sqrt(n)")


def log(*a):
    print(*a, flush=True)


def load(folder):
    try:
        m = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        m = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, attn_implementation="eager")
    assert {p.dtype for p in m.parameters()} == {torch.float32}
    return m.eval()


def token_stream(sp, text):
    docs = [d.strip() for d in re.split(r"\n\s*\n", text) if d.strip()]
    stream = []
    for d in docs:
        stream += [BOS] + sp.encode(d)
    return docs, stream


@torch.no_grad()
def perplexity(model, sp, path, seq_len, batch=16):
    docs, stream = token_stream(sp, open(path, encoding="utf-8").read())
    n_win = len(stream) // seq_len
    windows = torch.tensor(stream[: n_win * seq_len]).view(n_win, seq_len)
    nll = []
    for i in range(0, n_win, batch):
        x = windows[i : i + batch]
        logits = model(input_ids=x, use_cache=False).logits
        logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
        nll.append(-logp.gather(-1, x[:, 1:, None])[..., 0])
    nll = torch.cat(nll)  # [windows, seq_len - 1], float64
    flat = nll.reshape(-1)
    mean = float(flat.mean())
    sd = math.sqrt(float(((flat - mean) ** 2).sum()) / (flat.numel() - 1))  # ddof=1, as mlx-lm
    ppl = math.exp(mean)
    return dict(seq_len=seq_len, documents=len(docs), stream_tokens=len(stream), windows=n_win,
                tokens_scored=flat.numel(), mean_nll=mean, perplexity=ppl,
                std_error=ppl * sd / math.sqrt(flat.numel()),
                window_mean_nll=[float(v) for v in nll.mean(dim=1)])


@torch.no_grad()
def greedy(model, sp, prompt, new_tokens, eos):
    prompt_ids = [BOS] + sp.encode(prompt)
    x = torch.tensor([prompt_ids])
    out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), do_sample=False,
                         num_beams=1, max_new_tokens=new_tokens, eos_token_id=eos, pad_token_id=eos)
    gen = [int(t) for t in out[0, len(prompt_ids):]]
    # Our own loop (full recompute, no cache): the margin between the top two
    # logits tells how robust each greedy choice is to numeric differences.
    seq, mine, margins = list(prompt_ids), [], []
    for _ in range(new_tokens):
        last = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1]
        top = torch.topk(last, 2)
        margins.append(float(top.values[0] - top.values[1]))
        mine.append(int(top.indices[0]))
        seq.append(mine[-1])
        if mine[-1] == eos:
            break
    return dict(prompt=prompt, prompt_ids=prompt_ids, max_new_tokens=new_tokens,
                greedy_ids=gen, greedy_text=sp.decode(gen), full_text=sp.decode(prompt_ids[1:] + gen),
                stopped_at_eos=eos in gen, step_loop_ids=mine, generate_matches_step_loop=mine == gen,
                step_margins=margins, min_greedy_margin=min(margins))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/tiny-en")
    ap.add_argument("--fixtures", default="tests/fixtures")
    ap.add_argument("--prompt", default="In the beginning")
    ap.add_argument("--new-tokens", type=int, default=32)
    args = ap.parse_args()
    t0 = time.time()
    torch.set_num_threads(os.cpu_count())
    versions = dict(torch_version=torch.__version__, transformers_version=transformers.__version__)

    model = load(args.model)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.model, "tokenizer.model"))
    held = os.path.join(args.model, "heldout.txt")
    res = perplexity(model, sp, held, 256)
    res128 = perplexity(model, sp, held, 128)
    for r in (res, res128):
        log(f"heldout L={r['seq_len']}: {r['windows']} windows, {r['tokens_scored']} tokens, "
            f"mean NLL {r['mean_nll']:.6f}, ppl {r['perplexity']:.4f} +- {r['std_error']:.4f}")
    ref = dict(data="heldout.txt", **res, windowing=WINDOWING, seq_len_128=res128,
               dtype="bfloat16 weights, float32 compute, CPU, eager attention", **versions)
    with open(os.path.join(args.model, "reference_perplexity.json"), "w") as f:
        json.dump(ref, f, indent=1)

    gen = greedy(model, sp, args.prompt, args.new_tokens, model.config.eos_token_id)
    log(f"greedy: {gen['greedy_ids']}\n  text: {gen['full_text']!r}\n"
        f"  min margin {gen['min_greedy_margin']:.4f}, generate == step loop: {gen['generate_matches_step_loop']}")
    with open(os.path.join(args.model, "reference_generation.json"), "w") as f:
        json.dump(dict(gen, **versions), f, indent=1)

    # The random golden fixtures, on the short English text, L = 64.
    text = os.path.join(args.fixtures, "perplexity", "text.txt")
    fx = {}
    for name in ("llama_f32", "qwen3_bf16"):
        folder = os.path.join(args.fixtures, name)
        r = perplexity(load(folder), spm.SentencePieceProcessor(
            model_file=os.path.join(folder, "tokenizer.model")), text, 64)
        log(f"fixture {name} L=64: {r['windows']} windows, {r['tokens_scored']} tokens, "
            f"mean NLL {r['mean_nll']:.6f}, ppl {r['perplexity']:.4f} +- {r['std_error']:.4f}")
        fx[name] = {k: r[k] for k in ("seq_len", "windows", "tokens_scored", "mean_nll",
                                      "perplexity", "std_error")}
    with open(os.path.join(args.fixtures, "perplexity", "reference.json"), "w") as f:
        json.dump({"text.txt": fx, "windowing": WINDOWING,
                   "dtype": "float32 compute, CPU, eager attention", **versions}, f, indent=1)
    log(f"references.py done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
