#include "runtime/grad/decoder_gradient.h"

#include <algorithm>

#include "runtime/grad/activation.h"
#include "runtime/grad/attention.h"
#include "runtime/grad/linear.h"
#include "runtime/grad/rms_norm.h"

namespace shardlm::grad {

namespace {

template <typename T>
void grow(std::vector<T>& buffer, std::size_t n) {
  if (buffer.size() < n) buffer.resize(n);
}

template <typename T>
const T* bias_of(const DenseLinear<T>& linear) {
  return linear.bias.empty() ? nullptr : linear.bias.data();
}

template <typename T>
void project(const DenseLinear<T>& linear, const T* x, std::size_t rows, T* y) {
  linear_forward(x, linear.weight.values.data(), bias_of(linear), rows, linear.weight.rows, linear.weight.cols, y);
}

// The gradient of a projection: its weight's to the sink, its input's written (or added) to dx.
template <typename T>
void project_backward(const DenseLinear<T>& linear, const T* x, const T* dy, std::size_t rows, T* dx, bool accumulate,
                      WeightGradientSink<T>& sink) {
  sink.linear(linear.module, dy, x, rows, linear.weight.rows, linear.weight.cols);
  linear_backward_input(dy, linear.weight.values.data(), rows, linear.weight.rows, linear.weight.cols, dx, accumulate);
}

}  // namespace

// What one layer computes on its way, for the rows of one micro-batch.
template <typename T>
struct DecoderGradient<T>::Activations {
  std::vector<T> normed;        // input_norm(input)
  std::vector<T> q_raw, k_raw;  // projections before the per-head norm (Qwen3)
  std::vector<T> q, k, v;       // after norm and rotary embedding: what attention reads
  std::vector<T> attended;      // attention output, o_proj's input
  std::vector<T> middle;        // input + o_proj(attended)
  std::vector<T> normed_middle; // post_attention_norm(middle)
  std::vector<T> gate, up, act; // act = silu(gate) * up, down_proj's input
  // Backward scratch.
  std::vector<T> d_act, d_gate, d_up, d_normed, d_middle, d_attended, dq, dk, dv, d_raw;
};

template <typename T>
DecoderGradient<T>::DecoderGradient(const ModelConfig& config, const ModelSlice& slice, const DenseWeights<T>& weights,
                                    ThreadPool& pool)
    : config_(config), slice_(slice), weights_(weights), pool_(pool), activations_(std::make_unique<Activations>()) {
  const std::int64_t group = config.num_heads / config.num_kv_heads;
  for (std::int64_t head = 0; head < config.num_heads; ++head) {
    kv_head_of_q_head_.push_back(static_cast<std::size_t>(head / group));
  }
}

template <typename T>
DecoderGradient<T>::~DecoderGradient() = default;

template <typename T>
const RotaryTable& DecoderGradient<T>::rotary(std::size_t positions) {
  if (!rotary_ || rotary_->positions() < positions) {
    rotary_ = std::make_unique<RotaryTable>(config_.rope, config_.head_dim, positions);
  }
  return *rotary_;
}

template <typename T>
void DecoderGradient<T>::embed(std::span<const std::int32_t> tokens, T* hidden) const {
  const DenseMatrix<T>& table = weights_.embedding.weight;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const T* row = table.row(static_cast<std::size_t>(tokens[i]));
    std::copy(row, row + table.cols, hidden + i * table.cols);
  }
}

template <typename T>
void DecoderGradient<T>::run_layer(std::size_t layer, const T* input, SequenceBatch batch) {
  const DenseLayer<T>& w = weights_.layers[layer];
  Activations& a = *activations_;
  const std::size_t rows = batch.rows();
  const std::size_t width = static_cast<std::size_t>(config_.hidden_size);
  const std::size_t head_dim = static_cast<std::size_t>(config_.head_dim);
  const std::size_t q_width = w.q.weight.rows;
  const std::size_t kv_width = w.k.weight.rows;
  const std::size_t ffn = w.gate.weight.rows;
  const T eps = static_cast<T>(config_.rms_norm_eps);
  for (auto* buffer : {&a.normed, &a.middle, &a.normed_middle}) grow(*buffer, rows * width);
  for (auto* buffer : {&a.q_raw, &a.q, &a.attended}) grow(*buffer, rows * q_width);
  for (auto* buffer : {&a.k_raw, &a.k, &a.v}) grow(*buffer, rows * kv_width);
  for (auto* buffer : {&a.gate, &a.up, &a.act}) grow(*buffer, rows * ffn);

  rms_norm_forward(input, w.input_norm.data(), rows, width, eps, a.normed.data());
  project(w.q, a.normed.data(), rows, a.q_raw.data());
  project(w.k, a.normed.data(), rows, a.k_raw.data());
  project(w.v, a.normed.data(), rows, a.v.data());
  if (config_.qk_norm) {
    rms_norm_forward(a.q_raw.data(), w.q_norm.data(), rows * q_width / head_dim, head_dim, eps, a.q.data());
    rms_norm_forward(a.k_raw.data(), w.k_norm.data(), rows * kv_width / head_dim, head_dim, eps, a.k.data());
  } else {
    std::copy(a.q_raw.begin(), a.q_raw.begin() + static_cast<std::ptrdiff_t>(rows * q_width), a.q.begin());
    std::copy(a.k_raw.begin(), a.k_raw.begin() + static_cast<std::ptrdiff_t>(rows * kv_width), a.k.begin());
  }
  const RotaryTable& table = rotary(batch.positions);
  for (std::size_t row = 0; row < rows; ++row) {
    table.rotate(a.q.data() + row * q_width, q_width / head_dim, row % batch.positions, false);
    table.rotate(a.k.data() + row * kv_width, kv_width / head_dim, row % batch.positions, false);
  }
  AttentionShape shape;
  shape.positions = batch.positions;
  shape.head_dim = head_dim;
  shape.kv_heads = kv_width / head_dim;
  shape.kv_head_of_q_head = kv_head_of_q_head_;
  shape.sliding_window = config_.sliding_window[static_cast<std::size_t>(slice_.layers.begin) + layer];
  for (std::size_t s = 0; s < batch.sequences; ++s) {
    const std::size_t first = s * batch.positions;
    attention_forward(pool_, shape, a.q.data() + first * q_width, a.k.data() + first * kv_width,
                      a.v.data() + first * kv_width, a.attended.data() + first * q_width);
  }
  project(w.o, a.attended.data(), rows, a.middle.data());
  for (std::size_t i = 0; i < rows * width; ++i) a.middle[i] += input[i];

  rms_norm_forward(a.middle.data(), w.post_attention_norm.data(), rows, width, eps, a.normed_middle.data());
  project(w.gate, a.normed_middle.data(), rows, a.gate.data());
  project(w.up, a.normed_middle.data(), rows, a.up.data());
  silu_mul_forward(a.gate.data(), a.up.data(), rows * ffn, a.act.data());
}

template <typename T>
void DecoderGradient<T>::layer_forward(std::size_t layer, T* hidden, SequenceBatch batch) {
  run_layer(layer, hidden, batch);
  const DenseLayer<T>& w = weights_.layers[layer];
  Activations& a = *activations_;
  const std::size_t n = batch.rows() * static_cast<std::size_t>(config_.hidden_size);
  project(w.down, a.act.data(), batch.rows(), hidden);
  for (std::size_t i = 0; i < n; ++i) hidden[i] += a.middle[i];
}

template <typename T>
void DecoderGradient<T>::layer_backward(std::size_t layer, const T* input, T* d_hidden, SequenceBatch batch,
                                        WeightGradientSink<T>& sink) {
  run_layer(layer, input, batch);
  const DenseLayer<T>& w = weights_.layers[layer];
  Activations& a = *activations_;
  const std::size_t rows = batch.rows();
  const std::size_t width = static_cast<std::size_t>(config_.hidden_size);
  const std::size_t head_dim = static_cast<std::size_t>(config_.head_dim);
  const std::size_t q_width = w.q.weight.rows;
  const std::size_t kv_width = w.k.weight.rows;
  const std::size_t ffn = w.gate.weight.rows;
  const T eps = static_cast<T>(config_.rms_norm_eps);
  for (auto* buffer : {&a.d_act, &a.d_gate, &a.d_up}) grow(*buffer, rows * ffn);
  for (auto* buffer : {&a.d_normed, &a.d_middle}) grow(*buffer, rows * width);
  for (auto* buffer : {&a.d_attended, &a.dq, &a.d_raw}) grow(*buffer, rows * q_width);
  for (auto* buffer : {&a.dk, &a.dv}) grow(*buffer, rows * kv_width);

  // MLP: hidden = middle + down(silu(gate(n)) * up(n)), n = post_attention_norm(middle).
  project_backward(w.down, a.act.data(), d_hidden, rows, a.d_act.data(), false, sink);
  silu_mul_backward(a.gate.data(), a.up.data(), a.d_act.data(), rows * ffn, a.d_gate.data(), a.d_up.data());
  project_backward(w.gate, a.normed_middle.data(), a.d_gate.data(), rows, a.d_normed.data(), false, sink);
  project_backward(w.up, a.normed_middle.data(), a.d_up.data(), rows, a.d_normed.data(), true, sink);
  rms_norm_backward(a.middle.data(), w.post_attention_norm.data(), a.d_normed.data(), rows, width, eps,
                    a.d_middle.data());
  for (std::size_t i = 0; i < rows * width; ++i) a.d_middle[i] += d_hidden[i];

  // Attention: middle = input + o(attention(rope(norm(q(n))), rope(norm(k(n))), v(n))), n = input_norm(input).
  project_backward(w.o, a.attended.data(), a.d_middle.data(), rows, a.d_attended.data(), false, sink);
  AttentionShape shape;
  shape.positions = batch.positions;
  shape.head_dim = head_dim;
  shape.kv_heads = kv_width / head_dim;
  shape.kv_head_of_q_head = kv_head_of_q_head_;
  shape.sliding_window = config_.sliding_window[static_cast<std::size_t>(slice_.layers.begin) + layer];
  for (std::size_t s = 0; s < batch.sequences; ++s) {
    const std::size_t first = s * batch.positions;
    attention_backward(pool_, shape, a.q.data() + first * q_width, a.k.data() + first * kv_width,
                       a.v.data() + first * kv_width, a.attended.data() + first * q_width,
                       a.d_attended.data() + first * q_width, a.dq.data() + first * q_width,
                       a.dk.data() + first * kv_width, a.dv.data() + first * kv_width);
  }
  const RotaryTable& table = rotary(batch.positions);
  for (std::size_t row = 0; row < rows; ++row) {
    table.rotate(a.dq.data() + row * q_width, q_width / head_dim, row % batch.positions, true);
    table.rotate(a.dk.data() + row * kv_width, kv_width / head_dim, row % batch.positions, true);
  }
  if (config_.qk_norm) {
    rms_norm_backward(a.q_raw.data(), w.q_norm.data(), a.dq.data(), rows * q_width / head_dim, head_dim, eps,
                      a.d_raw.data());
    std::copy(a.d_raw.begin(), a.d_raw.begin() + static_cast<std::ptrdiff_t>(rows * q_width), a.dq.begin());
    rms_norm_backward(a.k_raw.data(), w.k_norm.data(), a.dk.data(), rows * kv_width / head_dim, head_dim, eps,
                      a.d_raw.data());
    std::copy(a.d_raw.begin(), a.d_raw.begin() + static_cast<std::ptrdiff_t>(rows * kv_width), a.dk.begin());
  }
  project_backward(w.q, a.normed.data(), a.dq.data(), rows, a.d_normed.data(), false, sink);
  project_backward(w.k, a.normed.data(), a.dk.data(), rows, a.d_normed.data(), true, sink);
  project_backward(w.v, a.normed.data(), a.dv.data(), rows, a.d_normed.data(), true, sink);
  rms_norm_backward(input, w.input_norm.data(), a.d_normed.data(), rows, width, eps, d_hidden);
  for (std::size_t i = 0; i < rows * width; ++i) d_hidden[i] += a.d_middle[i];
}

template <typename T>
void DecoderGradient<T>::logits(const T* hidden, std::size_t rows, T* out) {
  Activations& a = *activations_;
  const std::size_t width = static_cast<std::size_t>(config_.hidden_size);
  grow(a.normed, rows * width);
  rms_norm_forward(hidden, weights_.final_norm.data(), rows, width, static_cast<T>(config_.rms_norm_eps),
                   a.normed.data());
  project(weights_.head(), a.normed.data(), rows, out);
}

template <typename T>
void DecoderGradient<T>::head_backward(const T* hidden, const T* d_logits, std::size_t rows, T* d_hidden,
                                       WeightGradientSink<T>& sink) {
  Activations& a = *activations_;
  const std::size_t width = static_cast<std::size_t>(config_.hidden_size);
  const T eps = static_cast<T>(config_.rms_norm_eps);
  grow(a.normed, rows * width);
  grow(a.d_normed, rows * width);
  rms_norm_forward(hidden, weights_.final_norm.data(), rows, width, eps, a.normed.data());
  project_backward(weights_.head(), a.normed.data(), d_logits, rows, a.d_normed.data(), false, sink);
  rms_norm_backward(hidden, weights_.final_norm.data(), a.d_normed.data(), rows, width, eps, d_hidden);
}

template <typename T>
void DecoderGradient<T>::embedding_backward(std::span<const std::int32_t> tokens, const T* d_hidden,
                                            WeightGradientSink<T>& sink) const {
  const DenseLinear<T>& table = weights_.embedding;
  sink.embedding(table.module, tokens, d_hidden, table.weight.rows, table.weight.cols);
}

template class DecoderGradient<float>;
template class DecoderGradient<double>;

}  // namespace shardlm::grad
