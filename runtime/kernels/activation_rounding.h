#pragma once

namespace shardlm {

// What a kernel does to the f32 activations before they meet the weights: its error beyond f32
// accumulation. For a row w and a token x the result is sum_c w_c x~_c, where x~ is x as rounded
// here, so the error is at most sum_c |w_c| |x~_c - x_c| with:
enum class ActivationRounding {
  // x~ = x.
  kExact,
  // x as two bf16 numbers, high = x rounded to nearest even and low = the remainder rounded again:
  // 16 significant bits, |x~ - x| <= 2^-16 |x|.
  kBf16Split,
  // x rounded to bf16 once: |x~ - x| <= 2^-8 |x|.
  kBf16,
  // Per token and weight group, x~ = d * round(x / d) with d = max |x| / 32767 over the group:
  // |x~ - x| <= d * (1/2 + 3 * 32767 * 2^-24), the second term covering the f32 roundings of d,
  // of 1 / d and of x / d, each relative 2^-24 of a quotient of up to 32767.
  kInt16Groups,
  // The same with d = max |x| / 127 (the quantized weights' prefill kernels, which multiply x~ only
  // with the codes measured from the middle of their range, q - 2^(bits-1), and the rest with the
  // exact sum of x: see prefill_kernels.h): |x~ - x| <= d * (1/2 + 3 * 127 * 2^-24).
  kInt8Groups,
};

}  // namespace shardlm
