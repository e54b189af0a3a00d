#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "runtime/grad/decoder_gradient.h"

namespace shardlm {
class Decoder;
}

namespace shardlm::grad {

// The model whose next-token distributions the gradient pass aims at (the float model), over the same
// slice of layers as the model being differentiated, so that both travel the pipeline together.
template <typename T>
class ReferenceStage {
 public:
  virtual ~ReferenceStage() = default;
  virtual void embed(std::span<const std::int32_t> tokens, T* hidden) = 0;
  virtual void run_layers(T* hidden, SequenceBatch batch) = 0;
  virtual void logits(const T* hidden, std::size_t rows, T* out) = 0;
};

// The engine's own decoder on the stored weights: no f32 copy of the reference is made.
class DecoderReference final : public ReferenceStage<float> {
 public:
  explicit DecoderReference(Decoder& decoder) : decoder_(decoder) {}
  void embed(std::span<const std::int32_t> tokens, float* hidden) override;
  void run_layers(float* hidden, SequenceBatch batch) override;
  void logits(const float* hidden, std::size_t rows, float* out) override;

 private:
  Decoder& decoder_;
};

// A dense decoder as the reference (the double-precision tests).
template <typename T>
class DenseReference final : public ReferenceStage<T> {
 public:
  explicit DenseReference(DecoderGradient<T>& decoder) : decoder_(decoder) {}
  void embed(std::span<const std::int32_t> tokens, T* hidden) override { decoder_.embed(tokens, hidden); }
  void run_layers(T* hidden, SequenceBatch batch) override {
    for (std::size_t layer = 0; layer < decoder_.layers(); ++layer) decoder_.layer_forward(layer, hidden, batch);
  }
  void logits(const T* hidden, std::size_t rows, T* out) override { decoder_.logits(hidden, rows, out); }

 private:
  DecoderGradient<T>& decoder_;
};

}  // namespace shardlm::grad
