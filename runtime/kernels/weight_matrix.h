#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/tensor/dtype.h"

namespace shardlm {

// How a quantized WeightMatrix is stored: MLX's "affine" group-wise format
// (runtime/quant/affine.h). Each row is cols / group_size groups of group_size consecutive inputs;
// group g of row r has the scale scales[r * group_stride + g] and the bias biases[r * group_stride
// + g], both of the matrix's dtype, and code q of that group stands for fma(scale, q, bias).
struct AffineQuant {
  int bits = 0;        // 2, 3, 4, 5, 6 or 8; 0 means that the matrix is not quantized
  int group_size = 0;  // 32, 64 or 128
  const void* scales = nullptr;
  const void* biases = nullptr;
  std::size_t group_stride = 0;  // scale (and bias) elements from one row to the next
};

// A weight matrix in its stored format, row-major [rows][cols]: rows are output features, cols
// input features (the layout of a Hugging Face nn.Linear weight). Rows are row_stride units apart,
// so a view can cover a contiguous block of rows or columns of a bigger matrix (see weight_block).
//
// Dense (quant.bits == 0): data holds elements of dtype and row_stride counts elements.
// Quantized (quant.bits != 0): data holds the packed codes, each row a little-endian bit stream of
// cols codes, and row_stride counts uint32 words; dtype is that of the scales and biases, which is
// also the model's float dtype. cols must be a multiple of group_size, which makes every row a
// whole number of words whatever the bit width. None of the pointers needs to be aligned beyond its
// dtype's natural size: the kernels load the packed words without assuming 4-byte alignment.
struct WeightMatrix {
  DType dtype = DType::F32;
  const void* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t row_stride = 0;  // from one row to the next: elements, or uint32 words when quantized
  AffineQuant quant{};

  bool quantized() const { return quant.bits != 0; }

  const void* row(std::size_t r) const {
    const std::size_t unit = quantized() ? sizeof(std::uint32_t) : dtype_size(dtype);
    return static_cast<const char*>(data) + r * row_stride * unit;
  }
};

// Throws std::invalid_argument naming the first problem that would make the kernels misread w: a
// null pointer for a non-empty matrix, a row or group stride that is too short, an unsupported bit
// width or group size, or (quantized) cols that are not whole groups.
void check_weight_matrix(const WeightMatrix& w);

// Bytes of storage that the matrix's rows and columns occupy (not counting the padding of a view):
// for a quantized one the packed codes plus its scales and biases.
std::size_t weight_bytes(const WeightMatrix& w);

// The view of rows [row_begin, row_begin + n_rows) and columns [col_begin, col_begin + n_cols) of
// w, sharing its storage. Of a quantized matrix only whole groups can be cut out: col_begin and
// n_cols must be multiples of the group size (and so of 32, which keeps the packed words whole for
// every bit width). Throws std::invalid_argument for a block outside w or, quantized, not on group
// boundaries.
WeightMatrix weight_block(const WeightMatrix& w, std::size_t row_begin, std::size_t n_rows,
                          std::size_t col_begin, std::size_t n_cols);

// Asks the cache for the scales of the n_rows rows first_row + i * row_step of a quantized w (rows
// past w.rows are left out), so that a decode kernel streaming the codes of one block of rows finds
// the next block's scales in cache: fetched on demand, their misses stall the block at its start,
// which cost 8-bit decode on the 2-core development machine about a tenth of its bandwidth.
void prefetch_scales(const WeightMatrix& w, std::size_t first_row, std::size_t n_rows, std::size_t row_step = 1);

// Row r of w as f32, out holding w.cols floats: widened from f16 or bf16, or dequantized. Plain
// scalar code: the reference that the kernels and the tests compare against, and what an embedding
// lookup can use for a single row.
void widen_weight_row(const WeightMatrix& w, std::size_t r, float* out);

}  // namespace shardlm
