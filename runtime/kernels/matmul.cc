#include "runtime/kernels/matmul.h"

#include <algorithm>
#include <memory>

#include "runtime/kernels/bf16_activations.h"
#include "runtime/kernels/decode_threads.h"
#include "runtime/kernels/dot_kernels.h"
#include "runtime/kernels/matrix_product.h"
#include "runtime/quant/affine.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {

namespace {

// Up to this many tokens the dot kernels, reading the weights in their stored dtype, beat sgemm. On
// the 2-core Zen 4 development machine (4096 x 4096, both cores) they win by 2-4x at 8-32 tokens,
// for f32 weights as well as 16-bit ones, and sgemm only pulls ahead for f32 beyond about 128.
// Past 32 tokens of a wide matrix the activations no longer fit in L2, which the dot kernels
// re-read for every block of rows.
constexpr std::size_t kMaxDotTokens = 32;

// Quantized weights stay on the dot kernels longer, since sgemm needs them dequantized first. On the
// same machine (4096 x 4096, 4- and 8-bit codes in groups of 64, both cores, best of 7 runs) the dot
// kernels take 250 us a token at 64 tokens against sgemm's 268, and 258 against 228 at 96.
constexpr std::size_t kMaxQuantizedDotTokens = 64;

// With the VNNI prefill kernels quantized weights leave the dot kernels sooner: on the same machine
// (one thread, a 2048-wide Llama layer, median of 7) 8-bit prefill takes 178 tokens/s at 16 tokens
// against the dot kernels' 141 and 302 against 122 at 32, while 4-bit codes, which the dot kernels
// read faster, cross over between 32 and 65 tokens. Below that the packing of the weights, once per
// matmul, costs more than it saves.
constexpr std::size_t kMaxQuantizedDotTokensBeforePrefill = 32;

// Below this many weights a matmul is over before the workers would have woken up.
constexpr std::size_t kMinWeightsToSplit = std::size_t{1} << 15;

// Threads get whole multiples of this many rows, so that the kernels' row blocks are never cut.
constexpr std::size_t kRowGrain = 8;

// Prefill widens 16-bit weights (or dequantizes quantized ones) to f32 for sgemm a block of rows at a
// time, small enough that the block is still in cache when sgemm reads it and that every thread's
// scratch stays modest.
constexpr std::size_t kWidenedBlockBytes = std::size_t{8} << 20;

void matmul_dot(ThreadPool& pool, const WeightMatrix& w, const float* x, std::size_t n_tokens,
                float* y) {
  const DotRowsFn dot_rows =
      active_dot_kernels().dot_rows(w, decode_in_row_lanes(w, decode_threads_on_host(pool.size())));
  if (pool.size() == 1 || w.rows * w.cols < kMinWeightsToSplit) {
    dot_rows(w, 0, w.rows, x, n_tokens, y);
    return;
  }
  const std::size_t n_blocks = (w.rows + kRowGrain - 1) / kRowGrain;
  pool.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    dot_rows(w, begin * kRowGrain, std::min(end * kRowGrain, w.rows), x, n_tokens, y);
  });
}

// y[:, row_offset : row_offset + n_rows] = x * weights^T, weights being n_rows f32 rows of ldw.
void sgemm_rows(const float* weights, std::size_t ldw, std::size_t n_rows, std::size_t row_offset,
                std::size_t total_rows, std::size_t cols, const float* x, std::size_t n_tokens,
                float* y) {
  matrix_product(n_tokens, n_rows, cols, 1.0f, x, cols, weights, ldw, true, y + row_offset, total_rows);
}

// Per thread, reused across calls: a fresh buffer each call would pay its page faults every time.
std::uint8_t* activation_scratch(std::size_t n_bytes) {
  thread_local std::unique_ptr<std::uint8_t[]> buffer;
  thread_local std::size_t capacity = 0;
  if (capacity < n_bytes) {
    buffer.reset();
    buffer = std::make_unique_for_overwrite<std::uint8_t[]>(n_bytes);
    capacity = n_bytes;
  }
  return buffer.get();
}

bool has_prefill_kernel(const DotKernels& kernels, const WeightMatrix& w) {
  if (kernels.prefill == nullptr) return false;
  // Other code widths would be unpacked one code at a time, slower than dequantizing for sgemm.
  if (w.quantized()) return w.quant.bits == 8 || w.quant.bits == 4;
  return w.dtype == DType::BF16;
}

std::size_t max_dot_tokens(const DotKernels& kernels, const WeightMatrix& w) {
  if (!w.quantized()) return kMaxDotTokens;
  return has_prefill_kernel(kernels, w) ? kMaxQuantizedDotTokensBeforePrefill : kMaxQuantizedDotTokens;
}

// The activations are converted once, split over the threads by tokens; then each thread packs and
// multiplies its share of the row blocks.
void matmul_prefill(ThreadPool& pool, const PrefillKernels& kernels, const WeightMatrix& w,
                    const float* x, std::size_t n_tokens, float* y) {
  const bool quantized = w.quantized();
  const bool split = bf16_activations() == Bf16Activations::kSplit;
  const std::size_t n_groups = quantized ? w.cols / static_cast<std::size_t>(w.quant.group_size) : 0;
  PrefillActivations a;
  a.n_tokens = n_tokens;
  a.cols = w.cols;
  a.stride = (kernels.activation_bytes(w, split) + 63) / 64 * 64;
  const std::size_t buffer_tokens = (n_tokens + kernels.token_block - 1) / kernels.token_block * kernels.token_block;
  const std::size_t group_floats = n_tokens * n_groups;
  std::uint8_t* buffer = activation_scratch(buffer_tokens * a.stride + 2 * group_floats * sizeof(float));
  a.values = buffer;
  a.group_steps = reinterpret_cast<float*>(buffer + buffer_tokens * a.stride);
  a.group_sums = a.group_steps + group_floats;
  const PrepareFn prepare = quantized ? kernels.prepare_affine
                            : split   ? kernels.prepare_bf16
                                      : kernels.prepare_bf16_rounded;
  const PrefillRowsFn rows = quantized ? kernels.rows_affine
                             : split   ? kernels.rows_bf16
                                       : kernels.rows_bf16_rounded;
  pool.parallel_for(n_tokens, [&](std::size_t begin, std::size_t end) { prepare(w, x, begin, end, a); });
  const std::size_t n_blocks = (w.rows + kernels.row_block - 1) / kernels.row_block;
  pool.parallel_for(n_blocks, [&](std::size_t begin, std::size_t end) {
    rows(w, begin * kernels.row_block, std::min(end * kernels.row_block, w.rows), a, y);
  });
}

float* widening_scratch(std::size_t n_floats) {
  thread_local std::unique_ptr<float[]> buffer;
  thread_local std::size_t capacity = 0;
  if (capacity < n_floats) {
    buffer.reset();
    buffer = std::make_unique_for_overwrite<float[]>(n_floats);
    capacity = n_floats;
  }
  return buffer.get();
}

void matmul_widened(ThreadPool& pool, const WeightMatrix& w, const float* x, std::size_t n_tokens,
                    float* y) {
  const WidenRowsFn widen_rows = active_dot_kernels().widen_rows(w);
  const std::size_t rows_per_block =
      std::clamp<std::size_t>(kWidenedBlockBytes / (w.cols * sizeof(float)), 1, w.rows);
  float* scratch = widening_scratch(rows_per_block * w.cols);
  for (std::size_t r0 = 0; r0 < w.rows; r0 += rows_per_block) {
    const std::size_t n_rows = std::min(rows_per_block, w.rows - r0);
    pool.parallel_for(n_rows, [&](std::size_t begin, std::size_t end) {
      widen_rows(w, r0 + begin, r0 + end, scratch + begin * w.cols);
    });
    sgemm_rows(scratch, w.cols, n_rows, r0, w.rows, w.cols, x, n_tokens, y);
  }
}

}  // namespace

void matmul(ThreadPool& pool, const WeightMatrix& w, const float* x, std::size_t n_tokens, float* y) {
  // The kernels assume a supported layout; checking it costs next to nothing next to a matmul.
  if (w.quantized()) validate_quant_row_length({w.quant.bits, w.quant.group_size}, w.cols);
  if (n_tokens == 0 || w.rows == 0) return;
  if (w.cols == 0) {
    std::fill(y, y + n_tokens * w.rows, 0.0f);
  } else if (n_tokens <= max_dot_tokens(active_dot_kernels(), w)) {
    matmul_dot(pool, w, x, n_tokens, y);
  } else if (const DotKernels& kernels = active_dot_kernels(); has_prefill_kernel(kernels, w)) {
    matmul_prefill(pool, *kernels.prefill, w, x, n_tokens, y);
  } else if (w.dtype == DType::F32 && !w.quantized()) {
    sgemm_rows(static_cast<const float*>(w.data), w.row_stride, w.rows, 0, w.rows, w.cols, x,
               n_tokens, y);
  } else {
    matmul_widened(pool, w, x, n_tokens, y);
  }
}

ActivationRounding matmul_activation_rounding(const WeightMatrix& w, std::size_t n_tokens) {
  const DotKernels& kernels = active_dot_kernels();
  if (w.cols == 0) return ActivationRounding::kExact;
  if (n_tokens <= max_dot_tokens(kernels, w)) return kernels.rounding(w);
  if (!has_prefill_kernel(kernels, w)) return ActivationRounding::kExact;
  if (w.quantized()) return ActivationRounding::kInt8Groups;
  return bf16_activations() == Bf16Activations::kSplit ? ActivationRounding::kBf16Split
                                                        : ActivationRounding::kBf16;
}

const char* matmul_kernel_name() { return active_dot_kernels().name; }

}  // namespace shardlm
