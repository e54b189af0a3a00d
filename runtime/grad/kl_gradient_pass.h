#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/grad/decoder_gradient.h"
#include "runtime/grad/gradient_sink.h"
#include "runtime/grad/reference_stage.h"

namespace shardlm::grad {

// The neighbouring pipeline stages of this one: activations go forward, their gradients back. With
// Open MPI these are blocking transfers over the pipeline communicator (shard/); a stage of a
// single-stage model has none.
template <typename T>
class StageLinks {
 public:
  virtual ~StageLinks() = default;
  virtual void send_forward(const T* data, std::size_t n) = 0;
  virtual void receive_forward(T* data, std::size_t n) = 0;
  virtual void send_backward(const T* data, std::size_t n) = 0;
  virtual void receive_backward(T* data, std::size_t n) = 0;
};

// Windows of the calibration data that travel the pipeline together.
struct MicroBatch {
  std::vector<std::int32_t> tokens;  // the windows one after another
  SequenceBatch shape;
};

// One pipeline stage's share of the gradient of the loss
//     mean over windows and positions of KL(p_reference || p_model)
// with respect to the model's weights (the dense weights `model` reads), reported to a sink.
//
// run() takes micro-batches GPipe-style: each goes forward through this stage (reference and model
// side by side, both sent on in one message), the last stage turns it into the loss and the
// gradient w.r.t. its hidden state, and then the micro-batches come back in reverse order, each
// layer recomputed from its stored input and differentiated. Every stage of the pipeline must call
// run() with the same micro-batches.
template <typename T>
class KlGradientPass {
 public:
  // links may be null when the model's slice is the whole model.
  KlGradientPass(ReferenceStage<T>& reference, DecoderGradient<T>& model, StageLinks<T>* links);

  // row_weight: the weight of one position's KL in the loss, 1 / (windows x positions) over all the
  // windows of the estimate. Returns this stage's part of the loss (its sum of row_weight x KL on
  // the last stage, 0 elsewhere).
  double run(std::span<const MicroBatch> micro_batches, double row_weight, WeightGradientSink<T>& sink);

  // Rows of logits the last stage forms at once, so that a large vocabulary needs buffers of about
  // this many values rather than rows x vocab.
  static constexpr std::size_t kLogitValues = std::size_t{8} << 20;

 private:
  double head(const T* reference_hidden, const T* model_hidden, std::size_t rows, double row_weight, T* d_hidden,
              WeightGradientSink<T>& sink);

  ReferenceStage<T>& reference_;
  DecoderGradient<T>& model_;
  StageLinks<T>* links_;
  bool first_;
  bool last_;
  std::vector<T> reference_logits_, logits_;
};

}  // namespace shardlm::grad
