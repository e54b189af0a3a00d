#pragma once

namespace shardlm {

// How the prefill kernels multiply activations with bf16 weights (prefill_kernels.h). One setting
// for the whole process, read at every matmul; decode keeps the split form whatever it says, since
// it waits on memory and the split costs it nothing.
enum class Bf16Activations {
  // Each activation as two bf16 numbers (16 significant bits): results within 2^-16 of the f32 ones
  // on top of f32 accumulation. The default.
  kSplit,
  // Each activation rounded to bf16 once, as PyTorch and MLX bf16 inference do: half the
  // dot-product instructions, so bf16 prefill runs about 1.5 times as fast, but every term moves by
  // up to 2^-8 of itself. Measured on the golden bf16 models (tests/golden, 40-token prompts) the
  // logits move by up to 3.7% of their spread against transformers, where the split form stays
  // within 0.1%.
  kRounded,
};

void set_bf16_activations(Bf16Activations mode);
Bf16Activations bf16_activations();

}  // namespace shardlm
