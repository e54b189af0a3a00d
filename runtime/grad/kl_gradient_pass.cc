#include "runtime/grad/kl_gradient_pass.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/grad/kl_divergence.h"

namespace shardlm::grad {

template <typename T>
KlGradientPass<T>::KlGradientPass(ReferenceStage<T>& reference, DecoderGradient<T>& model, StageLinks<T>* links)
    : reference_(reference),
      model_(model),
      links_(links),
      first_(model.slice().has_embedding),
      last_(model.slice().has_head) {
  if (links_ == nullptr && !(first_ && last_)) {
    throw std::invalid_argument("a pipeline stage of the gradient pass needs links to its neighbours");
  }
}

template <typename T>
double KlGradientPass<T>::head(const T* reference_hidden, const T* model_hidden, std::size_t rows, double row_weight,
                               T* d_hidden, WeightGradientSink<T>& sink) {
  const auto vocab = static_cast<std::size_t>(model_.config().vocab_size);
  const auto width = static_cast<std::size_t>(model_.config().hidden_size);
  const std::size_t chunk = std::clamp<std::size_t>(kLogitValues / vocab, 1, rows);
  reference_logits_.resize(chunk * vocab);
  logits_.resize(chunk * vocab);
  double loss = 0.0;
  for (std::size_t first = 0; first < rows; first += chunk) {
    const std::size_t n = std::min(chunk, rows - first);
    reference_.logits(reference_hidden + first * width, n, reference_logits_.data());
    model_.logits(model_hidden + first * width, n, logits_.data());
    loss += row_weight *
            kl_divergence_backward(logits_.data(), reference_logits_.data(), n, vocab, row_weight, logits_.data());
    model_.head_backward(model_hidden + first * width, logits_.data(), n, d_hidden + first * width, sink);
  }
  return loss;
}

template <typename T>
double KlGradientPass<T>::run(std::span<const MicroBatch> micro_batches, double row_weight,
                              WeightGradientSink<T>& sink) {
  const auto width = static_cast<std::size_t>(model_.config().hidden_size);
  const std::size_t layers = model_.layers();
  // inputs[m][l]: the input of layer l for micro-batch m, kept for its backward.
  std::vector<std::vector<std::vector<T>>> inputs(micro_batches.size(), std::vector<std::vector<T>>(layers));
  std::vector<std::vector<T>> d_hidden(micro_batches.size());
  double loss = 0.0;

  for (std::size_t m = 0; m < micro_batches.size(); ++m) {
    const MicroBatch& batch = micro_batches[m];
    const std::size_t n = batch.shape.rows() * width;
    // Reference activations, then the model's, in one buffer: one transfer per hand-off.
    std::vector<T> hidden(2 * n);
    T* reference_hidden = hidden.data();
    T* model_hidden = hidden.data() + n;
    if (first_) {
      reference_.embed(batch.tokens, reference_hidden);
      model_.embed(batch.tokens, model_hidden);
    } else {
      links_->receive_forward(hidden.data(), hidden.size());
    }
    reference_.run_layers(reference_hidden, batch.shape);
    for (std::size_t layer = 0; layer < layers; ++layer) {
      inputs[m][layer].assign(model_hidden, model_hidden + n);
      model_.layer_forward(layer, model_hidden, batch.shape);
    }
    if (!last_) {
      links_->send_forward(hidden.data(), hidden.size());
      continue;
    }
    d_hidden[m].resize(n);
    loss += head(reference_hidden, model_hidden, batch.shape.rows(), row_weight, d_hidden[m].data(), sink);
  }

  for (std::size_t m = micro_batches.size(); m-- > 0;) {
    const MicroBatch& batch = micro_batches[m];
    std::vector<T>& gradient = d_hidden[m];
    if (!last_) {
      gradient.resize(batch.shape.rows() * width);
      links_->receive_backward(gradient.data(), gradient.size());
    }
    for (std::size_t layer = layers; layer-- > 0;) {
      model_.layer_backward(layer, inputs[m][layer].data(), gradient.data(), batch.shape, sink);
      std::vector<T>().swap(inputs[m][layer]);
    }
    if (first_) {
      model_.embedding_backward(batch.tokens, gradient.data(), sink);
    } else {
      links_->send_backward(gradient.data(), gradient.size());
    }
    std::vector<T>().swap(gradient);
  }
  return loss;
}

template class KlGradientPass<float>;
template class KlGradientPass<double>;

}  // namespace shardlm::grad
