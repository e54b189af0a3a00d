#pragma once

namespace shardlm {

// How the prefill kernels multiply activations with bf16 weights (prefill_kernels.h). One setting
// for the whole process, read at every matmul; decode keeps the split form whatever it says, since
// it waits on memory and the split costs it nothing. The library starts in kSplit, the form the
// tests compare with transformers; the shardlm command sets kRounded unless given --exact-bf16.
enum class Bf16Activations {
  // Each activation as two bf16 numbers (16 significant bits): every term within 2^-16 of itself,
  // on top of f32 accumulation.
  kSplit,
  // Each activation rounded to bf16 once, as PyTorch and MLX bf16 inference do: half the
  // dot-product instructions, so bf16 prefill runs 1.7 times as fast (512 tokens through a 1B Llama
  // shape on the 2-core Zen 4 development machine: 165 against 96 tokens/s, where f32 OpenBLAS does
  // 97), but every term moves by up to 2^-8 of itself. On the golden bf16 models (tests/golden,
  // 40-token prompts) the logits then differ from transformers' by up to 2.3-3.7% of their spread,
  // where the split form stays within 0.01%. On a trained model the difference is far below what
  // matters: tiny-en's held-out perplexity (64 windows of 256 tokens) is 34.1342 rounded against
  // 34.1341 split.
  kRounded,
};

void set_bf16_activations(Bf16Activations mode);
Bf16Activations bf16_activations();

}  // namespace shardlm
