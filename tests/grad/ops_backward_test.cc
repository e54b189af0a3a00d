// Each backward op of runtime/grad against central differences of its forward in double, and each
// forward against the engine's own op (runtime/ops), which the golden tests hold to transformers.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "grad/finite_difference.h"
#include "runtime/grad/activation.h"
#include "runtime/grad/attention.h"
#include "runtime/grad/gradient_sink.h"
#include "runtime/grad/kl_divergence.h"
#include "runtime/grad/linear.h"
#include "runtime/grad/rms_norm.h"
#include "runtime/grad/rotary.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/rms_norm.h"
#include "runtime/ops/rotary_embedding.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm::grad {
namespace {

using testing::dot;
using testing::numeric_gradient;
using testing::random_values;
using testing::relative_max_error;

constexpr double kTolerance = 1e-7;

TEST(OpsBackwardTest, RmsNormMatchesFiniteDifferences) {
  std::mt19937 rng(1);
  const std::size_t rows = 3, dim = 8;
  const double eps = 1e-5;
  const auto x = random_values(rows * dim, rng);
  const auto weight = random_values(dim, rng);
  const auto cotangent = random_values(rows * dim, rng);
  const auto loss = [&](const std::vector<double>& input) {
    std::vector<double> y(rows * dim);
    rms_norm_forward(input.data(), weight.data(), rows, dim, eps, y.data());
    return dot(y, cotangent);
  };
  std::vector<double> dx(rows * dim);
  rms_norm_backward(x.data(), weight.data(), cotangent.data(), rows, dim, eps, dx.data());
  EXPECT_LT(relative_max_error(dx, numeric_gradient(loss, x)), kTolerance);
}

TEST(OpsBackwardTest, RmsNormForwardIsTheDecodersNorm) {
  std::mt19937 rng(2);
  const std::size_t rows = 4, dim = 16;
  std::vector<float> x(rows * dim), weight(dim);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : x) v = normal(rng);
  for (auto& v : weight) v = normal(rng);
  std::vector<float> mine(rows * dim), engine(rows * dim);
  rms_norm_forward(x.data(), weight.data(), rows, dim, 1e-6f, mine.data());
  rms_norm(x.data(), weight.data(), rows, dim, 1e-6f, engine.data());
  for (std::size_t i = 0; i < mine.size(); ++i) EXPECT_NEAR(mine[i], engine[i], 1e-6f * (1 + std::abs(engine[i])));
}

TEST(OpsBackwardTest, SiluMulMatchesFiniteDifferences) {
  std::mt19937 rng(3);
  const std::size_t n = 12;
  const auto gate = random_values(n, rng, 3.0);
  const auto up = random_values(n, rng);
  const auto cotangent = random_values(n, rng);
  std::vector<double> d_gate(n), d_up(n);
  silu_mul_backward(gate.data(), up.data(), cotangent.data(), n, d_gate.data(), d_up.data());
  const auto loss_of_gate = [&](const std::vector<double>& g) {
    std::vector<double> out(n);
    silu_mul_forward(g.data(), up.data(), n, out.data());
    return dot(out, cotangent);
  };
  const auto loss_of_up = [&](const std::vector<double>& u) {
    std::vector<double> out(n);
    silu_mul_forward(gate.data(), u.data(), n, out.data());
    return dot(out, cotangent);
  };
  EXPECT_LT(relative_max_error(d_gate, numeric_gradient(loss_of_gate, gate)), kTolerance);
  EXPECT_LT(relative_max_error(d_up, numeric_gradient(loss_of_up, up)), kTolerance);
}

TEST(OpsBackwardTest, LinearInputAndWeightGradientsMatchFiniteDifferences) {
  std::mt19937 rng(4);
  const std::size_t rows = 5, out = 6, in = 7;
  const auto x = random_values(rows * in, rng);
  const auto weight = random_values(out * in, rng);
  const auto bias = random_values(out, rng);
  const auto cotangent = random_values(rows * out, rng);
  const auto loss = [&](const std::vector<double>& input, const std::vector<double>& w) {
    std::vector<double> y(rows * out);
    linear_forward(input.data(), w.data(), bias.data(), rows, out, in, y.data());
    return dot(y, cotangent);
  };
  std::vector<double> dx(rows * in, 0.5);
  linear_backward_input(cotangent.data(), weight.data(), rows, out, in, dx.data(), false);
  EXPECT_LT(relative_max_error(dx, numeric_gradient([&](const auto& v) { return loss(v, weight); }, x)), kTolerance);

  FullGradients<double> sink;
  sink.linear("m", cotangent.data(), x.data(), rows, out, in);
  sink.linear("m", cotangent.data(), x.data(), rows, out, in);  // reported twice: the gradients add
  std::vector<double> twice = numeric_gradient([&](const auto& w) { return loss(x, w); }, weight);
  for (auto& g : twice) g *= 2;
  EXPECT_LT(relative_max_error(sink.gradients().at("m").values, twice), kTolerance);
}

TEST(OpsBackwardTest, EmbeddingGradientGathersRepeatedTokens) {
  FullGradients<double> sink;
  const std::vector<std::int32_t> tokens = {2, 0, 2};
  const std::vector<double> d_hidden = {1, 2, 3, 4, 5, 6};
  sink.embedding("e", tokens, d_hidden.data(), 4, 2);
  EXPECT_EQ(sink.gradients().at("e").values, (std::vector<double>{3, 4, 0, 0, 6, 8, 0, 0}));
}

TEST(OpsBackwardTest, RotaryMatchesTheDecoderAndItsInverseIsTheTranspose) {
  RopeConfig config;
  config.theta = 100.0;
  config.type = RopeConfig::Type::Llama3;
  config.factor = 8.0;
  config.original_max_positions = 32;
  const std::size_t head_dim = 8, heads = 3, positions = 40;
  const RotaryTable table(config, head_dim, positions);
  const RotaryEmbedding engine(config, head_dim);
  std::mt19937 rng(5);
  for (const std::size_t position : {std::size_t{0}, std::size_t{7}, std::size_t{39}}) {
    const auto x = random_values(heads * head_dim, rng);
    const auto y = random_values(heads * head_dim, rng);
    std::vector<float> engine_rotated(x.begin(), x.end());
    engine.apply(engine_rotated.data(), heads, static_cast<std::int64_t>(position));
    std::vector<double> rotated = x;
    table.rotate(rotated.data(), heads, position, false);
    for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(rotated[i], engine_rotated[i], 1e-5);
    // <R x, y> = <x, R^T y>: the inverse rotation is the backward.
    std::vector<double> back = y;
    table.rotate(back.data(), heads, position, true);
    EXPECT_NEAR(dot(rotated, y), dot(x, back), 1e-12);
  }
}

struct AttentionCase {
  std::size_t positions;
  std::int64_t window;
};

class AttentionBackwardTest : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionBackwardTest, MatchesFiniteDifferences) {
  ThreadPool pool(2);
  std::mt19937 rng(6);
  const std::vector<std::size_t> kv_of_q = {0, 0, 1, 1};
  AttentionShape shape;
  shape.positions = GetParam().positions;
  shape.head_dim = 4;
  shape.kv_heads = 2;
  shape.kv_head_of_q_head = kv_of_q;
  shape.sliding_window = GetParam().window;
  const std::size_t q_size = shape.positions * 4 * shape.head_dim;
  const std::size_t kv_size = shape.positions * 2 * shape.head_dim;
  const auto q = random_values(q_size, rng), k = random_values(kv_size, rng), v = random_values(kv_size, rng);
  const auto cotangent = random_values(q_size, rng);
  const auto loss = [&](const std::vector<double>& qq, const std::vector<double>& kk, const std::vector<double>& vv) {
    std::vector<double> out(q_size);
    attention_forward(pool, shape, qq.data(), kk.data(), vv.data(), out.data());
    return dot(out, cotangent);
  };
  std::vector<double> out(q_size), dq(q_size), dk(kv_size), dv(kv_size);
  attention_forward(pool, shape, q.data(), k.data(), v.data(), out.data());
  attention_backward(pool, shape, q.data(), k.data(), v.data(), out.data(), cotangent.data(), dq.data(), dk.data(),
                     dv.data());
  EXPECT_LT(relative_max_error(dq, numeric_gradient([&](const auto& x) { return loss(x, k, v); }, q)), kTolerance);
  EXPECT_LT(relative_max_error(dk, numeric_gradient([&](const auto& x) { return loss(q, x, v); }, k)), kTolerance);
  EXPECT_LT(relative_max_error(dv, numeric_gradient([&](const auto& x) { return loss(q, k, x); }, v)), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(CausalAndSlidingWindow, AttentionBackwardTest,
                         ::testing::Values(AttentionCase{1, 0}, AttentionCase{6, 0}, AttentionCase{7, 3}));

TEST(OpsBackwardTest, AttentionForwardIsTheDecodersAttention) {
  ThreadPool pool(2);
  std::mt19937 rng(7);
  const std::vector<std::size_t> kv_of_q = {0, 0, 0, 1, 1, 1};
  const std::size_t positions = 9, head_dim = 8;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(positions * 6 * head_dim), k(positions * 2 * head_dim), v(positions * 2 * head_dim);
  for (auto* values : {&q, &k, &v}) {
    for (auto& x : *values) x = normal(rng);
  }
  for (const std::int64_t window : {0, 4}) {
    AttentionShape shape{positions, head_dim, 2, kv_of_q, window};
    std::vector<float> mine(q.size()), engine(q.size());
    attention_forward(pool, shape, q.data(), k.data(), v.data(), mine.data());
    AttentionInputs inputs;
    inputs.queries = q.data();
    inputs.n_queries = positions;
    inputs.keys = k.data();
    inputs.values = v.data();
    inputs.kv_row_stride = 2 * head_dim;
    inputs.kv_head_stride = head_dim;
    inputs.head_dim = head_dim;
    inputs.kv_head_of_q_head = kv_of_q;
    inputs.sliding_window = window;
    causal_attention(pool, inputs, engine.data());
    for (std::size_t i = 0; i < mine.size(); ++i) EXPECT_NEAR(mine[i], engine[i], 1e-5f);
  }
}

TEST(OpsBackwardTest, KlDivergenceGradientMatchesFiniteDifferences) {
  std::mt19937 rng(8);
  const std::size_t rows = 3, vocab = 10;
  const auto logits = random_values(rows * vocab, rng, 2.0);
  const auto reference = random_values(rows * vocab, rng, 2.0);
  const double row_weight = 0.25;
  std::vector<double> d_logits(rows * vocab);
  const double kl = kl_divergence_backward(logits.data(), reference.data(), rows, vocab, row_weight, d_logits.data());
  const auto loss = [&](const std::vector<double>& x) {
    std::vector<double> scratch(rows * vocab);
    return row_weight * kl_divergence_backward(x.data(), reference.data(), rows, vocab, row_weight, scratch.data());
  };
  EXPECT_LT(relative_max_error(d_logits, numeric_gradient(loss, logits)), kTolerance);
  // KL against itself is zero, and positive otherwise.
  std::vector<double> scratch(rows * vocab);
  EXPECT_NEAR(kl_divergence_backward(reference.data(), reference.data(), rows, vocab, 1.0, scratch.data()), 0.0, 1e-12);
  EXPECT_GT(kl, 0.0);
}

}  // namespace
}  // namespace shardlm::grad
