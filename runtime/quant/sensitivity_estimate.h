#pragma once

// mlx-lm's per-module sensitivity estimate (mlx_lm/quant/dynamic_quant.py), for one pipeline stage.
//
// Every module that takes part has its weight W replaced by W_low = qdq(W, low); the loss is the mean
// over calibration windows and positions of KL(p_float || p_low); g = dLoss/dW_low, and
//     sensitivity = sum(g * (W_low - W_high)) / (numel(W) / 1e6),   W_high = qdq(W, high),
// to first order how much the loss falls when that module alone moves from low to high bits.
// Because that is linear in g, each stage contracts each gradient with W_low - W_high as the
// backward pass produces it (SensitivitySink) and never holds a whole gradient; the stages' and
// replicas' numbers are then summed.
//
// qdq follows MLX on a weight of the model's dtype: quantize the weight (MLX's rule on its f32
// values), round scales and biases to the dtype as the file stores them, dequantize, and round the
// result to the dtype (MLX's dequantize returns the dtype). For an f32 model nothing is rounded.

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/grad/decoder_gradient.h"
#include "runtime/grad/gradient_sink.h"
#include "runtime/grad/kl_gradient_pass.h"
#include "runtime/grad/reference_stage.h"
#include "runtime/model/decoder.h"
#include "runtime/quant/sensitivity.h"

namespace shardlm {

class ThreadPool;

// W quantized with `spec` and dequantized in W's dtype, [rows][cols] f32. Throws std::invalid_argument
// for a quantized W, cols that are not whole groups, or a weight that is not finite.
std::vector<float> quantize_dequantize(const WeightMatrix& w, QuantSpec spec, ThreadPool& pool);

// Whether a module's sensitivity is estimated: a quantizable module (is_quantizable_module) whose
// inputs are whole groups of both quantizations. Others stay in float, as quantize_model leaves them.
bool takes_part(const std::string& module, std::size_t cols, const SensitivitySettings& settings);

// A slice's weights for the estimate: W_low in f32 for the gradient pass (modules that take no part
// widened as they are) and W_low - W_high of every module that takes part, by module path.
struct SensitivityWeights {
  grad::DenseWeights<float> low;
  std::map<std::string, grad::DenseMatrix<float>> deltas;
};

SensitivityWeights make_sensitivity_weights(const ModelConfig& config, const ModelSlice& slice,
                                            const ModelWeights& stored, const SensitivitySettings& settings,
                                            ThreadPool& pool);

// Contracts each reported gradient with W_low - W_high of its module: sum(dy^T x * delta) computed as
// sum(dy * (x delta^T)), the product having the shape of the layer's output.
class SensitivitySink final : public grad::WeightGradientSink<float> {
 public:
  explicit SensitivitySink(const std::map<std::string, grad::DenseMatrix<float>>& deltas) : deltas_(deltas) {}

  void linear(const std::string& module, const float* dy, const float* x, std::size_t rows, std::size_t out,
              std::size_t in) override;
  void embedding(const std::string& module, std::span<const std::int32_t> tokens, const float* d_hidden,
                 std::size_t vocab, std::size_t width) override;

  // sum(g * delta) / (numel / 1e6) of every module with a delta (numel of the whole weight).
  Sensitivities sensitivities() const;

 private:
  const std::map<std::string, grad::DenseMatrix<float>>& deltas_;
  std::map<std::string, double> alignments_;
  std::vector<float> product_;
};

// One rank's part of the estimate: the float model's slice (the reference, on its stored weights),
// its W_low copy in f32, W_low - W_high per module, and the gradient pass between them.
class SensitivityStage {
 public:
  // `weights` are the slice's stored weights (the folder must outlive the stage); links to the
  // neighbouring stages, or null for a whole model.
  SensitivityStage(const ModelConfig& config, const ModelSlice& slice, ModelWeights weights,
                   const SensitivitySettings& settings, ThreadPool& pool, grad::StageLinks<float>* links);
  ~SensitivityStage();

  // Runs the micro-batches (every stage the same ones); row_weight = 1 / (all windows x positions).
  // Returns this stage's part of the mean KL(p_float || p_low) (see KlGradientPass::run).
  double run(std::span<const grad::MicroBatch> micro_batches, double row_weight);

  // Runs windows replica, replica + replicas, ... of `windows` (all of equal length; every stage of
  // the pipeline the same ones), `batch` windows at a time, one window per micro-batch, each position
  // weighted as one of all the windows' positions. `progress` (may be empty) is told how many of its
  // windows are done.
  void run_windows(const std::vector<std::vector<std::int32_t>>& windows, std::size_t replica, std::size_t replicas,
                   std::size_t batch, const std::function<void(std::size_t)>& progress);

  // This stage's contribution to every module it holds.
  Sensitivities sensitivities() const { return sink_.sensitivities(); }

 private:
  Decoder reference_;
  SensitivityWeights weights_;
  grad::DecoderReference reference_stage_;
  grad::DecoderGradient<float> model_;
  SensitivitySink sink_;
  grad::KlGradientPass<float> pass_;
};

}  // namespace shardlm
