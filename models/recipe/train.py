#!/usr/bin/env python3
"""Train models/tiny-en: a small English LlamaForCausalLM (GPU, a few minutes).

Usage (repository root, on a machine with a CUDA GPU):
  python3 models/recipe/train.py --out models/tiny-en
Needs models/recipe/work/{train,heldout}.txt (prepare_corpus.sh) and
<out>/tokenizer.model (train_tokenizer.sh).  Writes the bf16 checkpoint into
<out> and a JSON training summary to --summary.

The data set (~2.7 M tokens) is small for a 6.9 M parameter model, so the
model overfits after a few epochs.  Instead of guessing the regularisation,
the script trains a short sweep of runs (more dropout, more epochs), each with
its own warmup + cosine schedule, and keeps the state with the lowest held-out
loss over all evaluations of all runs (early stopping).
"""
import argparse
import json
import math
import os
import re
import shutil
import tempfile
import time

import sentencepiece as spm
import torch
import torch.nn.functional as F
import transformers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

BOS, EOS = 1, 2
SEQ = 256

ARCH = dict(
    vocab_size=4096, hidden_size=256, num_hidden_layers=8, num_attention_heads=8,
    num_key_value_heads=4, intermediate_size=768, max_position_embeddings=1024,
    rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=BOS, eos_token_id=EOS,
    pad_token_id=None, hidden_act="silu", attention_bias=False, mlp_bias=False,
)
ROPE_THETA = 10000.0

# The sweep, in order.  cap_s bounds each run's wall time: the schedule's
# progress is max(step fraction, time fraction), so a slow GPU still ends each
# run with a fully decayed learning rate instead of being cut mid-schedule.
RUNS = [
    dict(name="d0.0-e6", dropout=0.0, epochs=6, lr=1e-3, cap_s=70),
    dict(name="d0.1-e16", dropout=0.1, epochs=16, lr=1.5e-3, cap_s=120),
    dict(name="d0.2-e30", dropout=0.2, epochs=30, lr=1.5e-3, cap_s=170),
]


def log(*a):
    print(*a, flush=True)


def documents(path):
    """Documents are separated by blank lines (the shardlm perplexity rule)."""
    text = open(path, encoding="utf-8").read()
    return [d.strip() for d in re.split(r"\n\s*\n", text) if d.strip()]


def make_config():
    try:
        cfg = LlamaConfig(**ARCH, rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA})
    except TypeError:  # transformers < 5
        cfg = LlamaConfig(**ARCH, rope_theta=ROPE_THETA)
    return cfg


def eval_windows(sp, path, seq):
    """Held-out windows exactly as references.py scores them: BOS + document,
    no EOS, concatenated, non-overlapping windows of `seq`, tail dropped."""
    stream = []
    for d in documents(path):
        stream += [BOS] + sp.encode(d)
    n = len(stream) // seq
    return torch.tensor(stream[: n * seq]).view(n, seq)


@torch.no_grad()
def heldout_loss(model, windows, autocast=True):
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(windows), 128):
        x = windows[i : i + 128]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=x, use_cache=False).logits
        nll = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)),
                              x[:, 1:].reshape(-1), reduction="sum")
        total += float(nll)
        count += x[:, 1:].numel()
    model.train()
    return total / count


def add_dropout(model, p):
    """Residual dropout (GPT-2 style) on the embedding output and on each
    attention / MLP output before it joins the residual stream.  Llama has no
    dropout of its own; hooks keep the saved model a plain Llama."""
    if p <= 0:
        return
    hook = lambda mod, inp, out: F.dropout(out, p, mod.training)  # noqa: E731
    model.model.embed_tokens.register_forward_hook(hook)
    for layer in model.model.layers:
        layer.self_attn.o_proj.register_forward_hook(hook)
        layer.mlp.down_proj.register_forward_hook(hook)


def train_run(run, cfg, stream, windows, batch, seed, best):
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).cuda().train()
    add_dropout(model, run["dropout"])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]  # RMSNorm gains
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=run["lr"], betas=(0.9, 0.95), fused=True)
    steps_per_epoch = (len(stream) - SEQ) // SEQ // batch
    total = run["epochs"] * steps_per_epoch
    warmup = max(50, total // 50)
    eval_every = max(25, steps_per_epoch // 4)
    min_lr = run["lr"] / 20
    log(f"run {run['name']}: {total} steps planned ({steps_per_epoch}/epoch), "
        f"warmup {warmup}, eval every {eval_every}")

    t0 = time.time()
    step, epoch, frac, hist = 0, 0, 0.0, []
    run_best = [float("inf"), 0]

    def evaluate(lr, loss):
        val = heldout_loss(model, windows)
        hist.append((step, round(time.time() - t0, 1), loss.item(), val))
        mark = ""
        if val < run_best[0]:
            run_best[:] = [val, step]
        if val < best["loss"]:
            best.update(loss=val, run=run["name"], step=step,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})
            mark = " *"
        log(f"  {run['name']} step {step} ep {step / steps_per_epoch:.2f} "
            f"t {time.time() - t0:.0f}s lr {lr:.2e} train {loss.item():.4f} "
            f"heldout {val:.4f} ppl {math.exp(val):.2f}{mark}")
        return val

    done = False
    while not done:
        # A new chunk phase every epoch: the model sees other 256-token cuts of
        # the same text (cheap augmentation).  Seeded: data order is fixed.
        g = torch.Generator().manual_seed(seed * 1000 + epoch)
        offset = int(torch.randint(0, SEQ, (1,), generator=g))
        n = (len(stream) - offset) // SEQ
        chunks = stream[offset : offset + n * SEQ].view(n, SEQ)
        order = torch.randperm(n, generator=g).cuda()
        for b in range(n // batch):
            frac = max(step / total, (time.time() - t0) / run["cap_s"])
            if frac >= 1:
                done = True
                break
            if step < warmup:
                lr = run["lr"] * (step + 1) / warmup
            else:
                lr = min_lr + (run["lr"] - min_lr) * 0.5 * (1 + math.cos(math.pi * frac))
            for group in opt.param_groups:
                group["lr"] = lr
            x = chunks[order[b * batch : (b + 1) * batch]]
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(input_ids=x, use_cache=False).logits
            loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)),
                                   x[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % eval_every == 0:
                val = evaluate(lr, loss)
                # Early stop: clearly past the minimum (overfitting), not noise.
                if step > warmup and val > run_best[0] + 0.05:
                    log(f"  {run['name']}: early stop, heldout {val:.4f} > best {run_best[0]:.4f} + 0.05")
                    done = True
                    break
        epoch += 1
    if not hist or hist[-1][0] != step:
        evaluate(lr, loss)  # the fully decayed end of the schedule is often the best
    secs = time.time() - t0
    log(f"run {run['name']} done: {step} steps in {secs:.0f}s ({step / secs:.1f} steps/s), "
        f"best heldout {run_best[0]:.4f} at step {run_best[1]}")
    return dict(run, steps=step, planned_steps=total, seconds=round(secs, 1),
                epochs_done=round(step / steps_per_epoch, 2), best_heldout=run_best[0],
                best_step=run_best[1], time_capped=step < total and frac >= 1, history=hist)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="models/recipe/work")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--summary", default=None, help="write a JSON training summary here")
    args = ap.parse_args()
    t_start = time.time()
    torch.backends.cuda.matmul.allow_tf32 = True
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"device {torch.cuda.get_device_name(0)}")

    sp = spm.SentencePieceProcessor(model_file=os.path.join(args.out, "tokenizer.model"))
    assert sp.get_piece_size() == ARCH["vocab_size"], sp.get_piece_size()
    # Training stream: every document framed by BOS ... EOS, concatenated.
    docs = documents(os.path.join(args.work, "train.txt"))
    ids = sp.encode(docs)
    stream = torch.tensor([t for d in ids for t in [BOS] + d + [EOS]]).cuda()
    windows = eval_windows(sp, os.path.join(args.work, "heldout.txt"), SEQ).cuda()
    log(f"train: {len(docs)} documents, {len(stream)} tokens; "
        f"heldout: {windows.shape[0]} windows of {SEQ}; prep {time.time() - t_start:.1f}s")

    cfg = make_config()
    n_params = sum(p.numel() for p in LlamaForCausalLM(cfg).parameters())
    log(f"parameters: {n_params} ({n_params / 1e6:.2f} M)")

    best = {"loss": float("inf")}
    runs = [train_run(r, cfg, stream, windows, args.batch, args.seed, best) for r in RUNS]
    log(f"best: run {best['run']} step {best['step']} heldout {best['loss']:.4f} "
        f"ppl {math.exp(best['loss']):.2f}")

    # Save the best state in bfloat16, sharded (~5 MB shards).
    model = LlamaForCausalLM(cfg)
    model.load_state_dict(best["state"])
    model = model.to(torch.bfloat16).eval()
    model.generation_config = GenerationConfig(bos_token_id=BOS, eos_token_id=EOS)
    tmp = tempfile.mkdtemp()
    model.save_pretrained(tmp, max_shard_size="5MB")
    for f in sorted(os.listdir(tmp)):
        shutil.copy(os.path.join(tmp, f), os.path.join(args.out, f))
        log(f"  saved {f} ({os.path.getsize(os.path.join(tmp, f))} bytes)")
    shutil.rmtree(tmp)
    # What rounding to bf16 cost: the rounded weights, computed in f32.
    bf16_loss = heldout_loss(model.float().cuda(), windows, autocast=False)
    log(f"bf16-rounded weights, f32 compute: heldout loss {bf16_loss:.4f} ppl {math.exp(bf16_loss):.2f}")

    summary = dict(parameters=n_params, train_documents=len(docs), train_tokens=len(stream),
                   heldout_windows=int(windows.shape[0]), batch=args.batch, seq_len=SEQ,
                   seed=args.seed, optimizer="AdamW betas (0.9, 0.95), wd 0.1 (not on norms), clip 1.0",
                   runs=runs, best_run=best["run"], best_step=best["step"],
                   best_heldout_loss=best["loss"], bf16_heldout_loss=bf16_loss,
                   total_seconds=round(time.time() - t_start, 1),
                   torch=torch.__version__, transformers=transformers.__version__,
                   device=torch.cuda.get_device_name(0))
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1)
    log(f"train.py done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
