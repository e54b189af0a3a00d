#include "runtime/quant/sensitivity_estimate.h"

#include <fmt/format.h>

#include <cmath>
#include <exception>
#include <mutex>
#include <stdexcept>

#include "runtime/grad/gemm.h"
#include "runtime/quant/quantization_layout.h"
#include "runtime/tensor/dtype.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {

namespace {

// The value as the dtype stores it.
float round_to(float value, DType dtype) {
  switch (dtype) {
    case DType::F32: return value;
    case DType::F16: return f16_to_f32(f32_to_f16(value));
    case DType::BF16: return bf16_to_f32(f32_to_bf16(value));
  }
  return value;
}

}  // namespace

std::vector<float> quantize_dequantize(const WeightMatrix& w, QuantSpec spec, ThreadPool& pool) {
  if (w.quantized()) throw std::invalid_argument("cannot estimate sensitivities of an already quantized weight");
  validate_quant_row_length(spec, w.cols);
  std::vector<float> out(w.rows * w.cols);
  std::exception_ptr failure;
  std::mutex failure_mutex;
  pool.parallel_for(w.rows, [&](std::size_t begin, std::size_t end) {
    const std::size_t groups = w.cols / static_cast<std::size_t>(spec.group_size);
    std::vector<float> row(w.cols), scales(groups), biases(groups);
    std::vector<std::uint32_t> packed(packed_words(w.cols, spec.bits));
    try {
      for (std::size_t r = begin; r < end; ++r) {
        widen_weight_row(w, r, row.data());
        quantize_row(row.data(), w.cols, spec, packed.data(), scales.data(), biases.data());
        for (std::size_t g = 0; g < groups; ++g) {
          scales[g] = round_to(scales[g], w.dtype);
          biases[g] = round_to(biases[g], w.dtype);
        }
        float* result = out.data() + r * w.cols;
        dequantize_row(packed.data(), scales.data(), biases.data(), w.cols, spec, result);
        for (std::size_t c = 0; c < w.cols; ++c) result[c] = round_to(result[c], w.dtype);
      }
    } catch (...) {
      const std::lock_guard lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  });
  if (failure) std::rethrow_exception(failure);
  return out;
}

bool takes_part(const std::string& module, std::size_t cols, const SensitivitySettings& settings) {
  return is_quantizable_module(module) && cols % static_cast<std::size_t>(settings.low.group_size) == 0 &&
         cols % static_cast<std::size_t>(settings.high.group_size) == 0;
}

SensitivityWeights make_sensitivity_weights(const ModelConfig& config, const ModelSlice& slice,
                                            const ModelWeights& stored, const SensitivitySettings& settings,
                                            ThreadPool& pool) {
  validate_quant_spec(settings.low);
  validate_quant_spec(settings.high);
  SensitivityWeights weights;
  const auto source = [&](const std::string& module, const WeightMatrix& w) {
    if (!takes_part(module, w.cols, settings)) return grad::widened_weight(module, w);
    std::vector<float> low = quantize_dequantize(w, settings.low, pool);
    // A tied table reaches here from the embedding and from the head: one delta serves both.
    if (!weights.deltas.contains(module)) {
      std::vector<float> delta = quantize_dequantize(w, settings.high, pool);
      for (std::size_t i = 0; i < delta.size(); ++i) delta[i] = low[i] - delta[i];
      weights.deltas[module] = {std::move(delta), w.rows, w.cols};
    }
    return low;
  };
  weights.low = grad::make_dense_weights<float>(config, slice, stored, source);
  return weights;
}

void SensitivitySink::linear(const std::string& module, const float* dy, const float* x, std::size_t rows,
                             std::size_t out, std::size_t in) {
  const auto found = deltas_.find(module);
  if (found == deltas_.end()) return;
  const grad::DenseMatrix<float>& delta = found->second;
  product_.resize(rows * out);
  grad::gemm<float>(false, true, rows, out, in, 1.0f, x, in, delta.values.data(), in, 0.0f, product_.data(), out);
  double sum = 0.0;
  for (std::size_t i = 0; i < rows * out; ++i) sum += static_cast<double>(dy[i]) * product_[i];
  alignments_[module] += sum;
}

void SensitivitySink::embedding(const std::string& module, std::span<const std::int32_t> tokens,
                                const float* d_hidden, std::size_t, std::size_t width) {
  const auto found = deltas_.find(module);
  if (found == deltas_.end()) return;
  double sum = 0.0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const float* delta_row = found->second.row(static_cast<std::size_t>(tokens[i]));
    for (std::size_t c = 0; c < width; ++c) sum += static_cast<double>(d_hidden[i * width + c]) * delta_row[c];
  }
  alignments_[module] += sum;
}

Sensitivities SensitivitySink::sensitivities() const {
  Sensitivities result;
  for (const auto& [module, delta] : deltas_) {
    const auto found = alignments_.find(module);
    const double alignment = found == alignments_.end() ? 0.0 : found->second;
    result[module] = alignment / (static_cast<double>(delta.rows * delta.cols) / 1e6);
  }
  return result;
}

SensitivityStage::SensitivityStage(const ModelConfig& config, const ModelSlice& slice, ModelWeights weights,
                                   const SensitivitySettings& settings, ThreadPool& pool,
                                   grad::StageLinks<float>* links)
    : reference_(config, slice, std::move(weights), pool),
      weights_(make_sensitivity_weights(config, slice, reference_.weights(), settings, pool)),
      reference_stage_(reference_),
      model_(config, slice, weights_.low, pool),
      sink_(weights_.deltas),
      pass_(reference_stage_, model_, links) {}

SensitivityStage::~SensitivityStage() = default;

double SensitivityStage::run(std::span<const grad::MicroBatch> micro_batches, double row_weight) {
  return pass_.run(micro_batches, row_weight, sink_);
}

void SensitivityStage::run_windows(const std::vector<std::vector<std::int32_t>>& windows, std::size_t replica,
                                   std::size_t replicas, std::size_t batch,
                                   const std::function<void(std::size_t)>& progress) {
  if (windows.empty()) throw std::invalid_argument("no calibration windows to estimate sensitivities on");
  const std::size_t positions = windows.front().size();
  const double row_weight = 1.0 / (static_cast<double>(windows.size()) * static_cast<double>(positions));
  std::vector<grad::MicroBatch> micro_batches;
  std::size_t done = 0;
  for (std::size_t w = replica; w < windows.size(); w += replicas) {
    micro_batches.push_back({windows[w], {1, positions}});
    if (micro_batches.size() < batch && w + replicas < windows.size()) continue;
    run(micro_batches, row_weight);
    done += micro_batches.size();
    micro_batches.clear();
    if (progress) progress(done);
  }
}

}  // namespace shardlm
