// The gradient pass on the golden fixtures' tiny models (Llama GQA with tied embeddings and llama3
// RoPE, Mistral's sliding window, Qwen2's q/k/v biases, Qwen3's q/k norms): its forward against the
// logits transformers computed, and its gradient of the KL loss against central differences of that
// loss, all in double.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "golden/fixture.h"
#include "grad/dense_model.h"
#include "grad/finite_difference.h"
#include "runtime/grad/decoder_gradient.h"
#include "runtime/grad/kl_gradient_pass.h"
#include "runtime/grad/reference_stage.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm::grad {
namespace {

using testing::StoredModel;

class DecoderGradientTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderGradientTest, ForwardMatchesTransformersLogits) {
  const testing::GoldenFixture fixture = testing::load_golden_fixture(GetParam() + "_f32");
  const StoredModel stored(fixture.dir);
  const DenseWeights<float> weights = stored.dense<float>();
  ThreadPool pool(2);
  DecoderGradient<float> model(stored.config, stored.slice, weights, pool);
  const std::size_t rows = fixture.prompt_ids.size();
  const auto width = static_cast<std::size_t>(stored.config.hidden_size);
  std::vector<float> hidden(rows * width), logits(rows * fixture.vocab);
  model.embed(fixture.prompt_ids, hidden.data());
  for (std::size_t layer = 0; layer < model.layers(); ++layer) model.layer_forward(layer, hidden.data(), {1, rows});
  model.logits(hidden.data(), rows, logits.data());
  double worst = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) worst = std::max(worst, std::abs(double(logits[i]) - fixture.logits[i]));
  EXPECT_LT(worst, 1e-3 * fixture.logits_std) << "largest logit difference " << worst;
}

// A stand-in for the low-precision weights: every weight moved by a few percent, deterministically.
std::vector<float> perturbed(const std::string& module, const WeightMatrix& stored) {
  std::vector<float> values = widened_weight(module, stored);
  std::mt19937 rng(static_cast<std::uint32_t>(std::hash<std::string>{}(module)));
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (auto& v : values) v *= 1.0f + normal(rng);
  return values;
}

TEST_P(DecoderGradientTest, KlGradientMatchesFiniteDifferences) {
  const testing::GoldenFixture fixture = testing::load_golden_fixture(GetParam() + "_f32");
  const StoredModel stored(fixture.dir);
  const DenseWeights<double> reference_weights = stored.dense<double>();
  DenseWeights<double> low = stored.dense<double>(perturbed);
  ThreadPool pool(2);
  DecoderGradient<double> reference_model(stored.config, stored.slice, reference_weights, pool);
  DenseReference<double> reference(reference_model);
  DecoderGradient<double> model(stored.config, stored.slice, low, pool);
  KlGradientPass<double> pass(reference, model, nullptr);

  // Windows of 20 positions (past Mistral's window of 16): one micro-batch of two, one of one.
  const auto& ids = fixture.prompt_ids;
  const std::size_t positions = 20;
  std::vector<MicroBatch> batches(2);
  batches[0].tokens.assign(ids.begin(), ids.begin() + 40);
  batches[0].shape = {2, positions};
  batches[1].tokens.assign(ids.begin() + 10, ids.begin() + 30);
  batches[1].shape = {1, positions};
  const double row_weight = 1.0 / (3.0 * positions);
  const auto loss = [&] {
    FullGradients<double> ignored;
    return pass.run(batches, row_weight, ignored);
  };

  FullGradients<double> gradients;
  const double kl = pass.run(batches, row_weight, gradients);
  EXPECT_GT(kl, 1e-4);
  std::mt19937 rng(11);
  for (DenseLinear<double>* linear : testing::dense_modules(low)) {
    SCOPED_TRACE(linear->module);
    // The derivative along a random direction, by central differences of the loss.
    const std::vector<double> direction = testing::random_values(linear->weight.values.size(), rng);
    const std::vector<double> saved = linear->weight.values;
    const double step = 1e-5 * std::sqrt(testing::dot(saved, saved) / testing::dot(direction, direction));
    for (std::size_t i = 0; i < saved.size(); ++i) linear->weight.values[i] = saved[i] + step * direction[i];
    const double up = loss();
    for (std::size_t i = 0; i < saved.size(); ++i) linear->weight.values[i] = saved[i] - step * direction[i];
    const double down = loss();
    linear->weight.values = saved;
    const double numeric = (up - down) / (2 * step);
    const double analytic = testing::dot(gradients.gradients().at(linear->module).values, direction);
    EXPECT_NEAR(analytic, numeric, 1e-6 * std::abs(numeric) + 1e-10);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, DecoderGradientTest, ::testing::Values("llama", "mistral", "qwen2", "qwen3"));

}  // namespace
}  // namespace shardlm::grad
