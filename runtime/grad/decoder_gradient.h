#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "runtime/grad/dense_weights.h"
#include "runtime/grad/gradient_sink.h"
#include "runtime/grad/rotary.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_slice.h"

namespace shardlm {
class ThreadPool;
}

namespace shardlm::grad {

// Equal-length sequences laid one after another as rows, each at positions [0, positions): a
// micro-batch of calibration windows.
struct SequenceBatch {
  std::size_t sequences = 1;
  std::size_t positions = 0;

  std::size_t rows() const { return sequences * positions; }
};

// The decoder (the same computation as runtime/model's Decoder) over dense T weights, with the
// backward pass of each part. The caller keeps each layer's input and calls layer_backward with it;
// the layer's intermediates are recomputed there, so that a pass holds one layer's intermediates at
// a time (layers x rows x hidden for the stored inputs, plus one layer).
template <typename T>
class DecoderGradient {
 public:
  // `weights` must outlive this object; it is read, never copied, so a test may perturb it in place.
  DecoderGradient(const ModelConfig& config, const ModelSlice& slice, const DenseWeights<T>& weights,
                  ThreadPool& pool);
  ~DecoderGradient();

  const ModelConfig& config() const { return config_; }
  const ModelSlice& slice() const { return slice_; }
  std::size_t layers() const { return weights_.layers.size(); }

  // hidden[i] = embedding row of tokens[i].
  void embed(std::span<const std::int32_t> tokens, T* hidden) const;
  // Layer `layer` of the slice, in place over hidden [rows][hidden_size].
  void layer_forward(std::size_t layer, T* hidden, SequenceBatch batch);
  // Given the layer's input and d_hidden = the loss's gradient with respect to its output, reports
  // the layer's weight gradients to `sink` and replaces d_hidden with the gradient w.r.t. the input.
  void layer_backward(std::size_t layer, const T* input, T* d_hidden, SequenceBatch batch,
                      WeightGradientSink<T>& sink);
  // Final norm and LM head: logits [rows][vocab].
  void logits(const T* hidden, std::size_t rows, T* out);
  // Given d_logits, reports the head's gradient and writes d_hidden (the gradient w.r.t. hidden).
  void head_backward(const T* hidden, const T* d_logits, std::size_t rows, T* d_hidden,
                     WeightGradientSink<T>& sink);
  // Reports the embedding's gradient given d_hidden of the embedded rows.
  void embedding_backward(std::span<const std::int32_t> tokens, const T* d_hidden, WeightGradientSink<T>& sink) const;

 private:
  struct Activations;
  // Recomputes the layer up to the MLP activation, keeping every intermediate the backward needs.
  void run_layer(std::size_t layer, const T* input, SequenceBatch batch);
  const RotaryTable& rotary(std::size_t positions);

  ModelConfig config_;
  ModelSlice slice_;
  const DenseWeights<T>& weights_;
  ThreadPool& pool_;
  std::vector<std::size_t> kv_head_of_q_head_;
  std::unique_ptr<RotaryTable> rotary_;
  std::unique_ptr<Activations> activations_;
};

}  // namespace shardlm::grad
