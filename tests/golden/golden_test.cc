// shardlm against Hugging Face transformers: logits of a 40-token prompt and a 24-token greedy
// continuation, for every family in f32 and bf16 (tests/fixtures/make_fixtures.py made the references).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "golden/fixture.h"
#include "runtime/engine/generation.h"
#include "runtime/engine/local_model.h"
#include "runtime/kernels/bf16_activations.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

using testing::GoldenFixture;

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  static ThreadPool& pool() {
    static ThreadPool shared(2);
    return shared;
  }
};

TEST_P(GoldenTest, PromptLogitsMatchTransformers) {
  const GoldenFixture fixture = testing::load_golden_fixture(GetParam());
  LocalModel model(fixture.dir, pool());
  const SequenceId sequence = model.open_sequence();
  const SequenceTokens batch{sequence, fixture.prompt_ids};
  std::vector<float> logits;
  model.forward({&batch, 1}, true, logits);
  ASSERT_EQ(logits.size(), fixture.logits.size());

  double max_error = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    max_error = std::max(max_error, std::abs(static_cast<double>(logits[i]) - fixture.logits[i]));
  }
  EXPECT_LE(max_error, 1e-3 * fixture.logits_std) << "max |logit - transformers| over every position";
}

TEST_P(GoldenTest, RoundedBf16PrefillStaysNearTransformers) {
  // The shardlm command's default (without --exact-bf16) rounds prefill activations to bf16 (within
  // 2^-8 of each), as PyTorch does in bf16;
  // over these 4-layer models that moved logits by up to 3.7% of their spread when measured, so
  // 6% bounds it while still catching a kernel that gets the products wrong.
  const GoldenFixture fixture = testing::load_golden_fixture(GetParam());
  set_bf16_activations(Bf16Activations::kRounded);
  const std::vector<float> logits = testing::prompt_logits(fixture.dir, fixture.prompt_ids);
  set_bf16_activations(Bf16Activations::kSplit);
  ASSERT_EQ(logits.size(), fixture.logits.size());
  double max_error = 0.0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    max_error = std::max(max_error, std::abs(static_cast<double>(logits[i]) - fixture.logits[i]));
  }
  EXPECT_LE(max_error, 0.06 * fixture.logits_std);
}

TEST_P(GoldenTest, DecodeStepsMatchPrefillLogits) {
  // Feeding the prompt one token at a time through the KV cache gives the same logits as prefill.
  const GoldenFixture fixture = testing::load_golden_fixture(GetParam());
  LocalModel model(fixture.dir, pool());
  const SequenceId sequence = model.open_sequence();
  std::vector<float> logits;
  double max_error = 0.0;
  for (std::size_t position = 0; position < fixture.prompt_ids.size(); ++position) {
    const SequenceTokens step{sequence, {&fixture.prompt_ids[position], 1}};
    model.forward({&step, 1}, false, logits);
    for (std::size_t v = 0; v < fixture.vocab; ++v) {
      const double reference = fixture.logits[position * fixture.vocab + v];
      max_error = std::max(max_error, std::abs(logits[v] - reference));
    }
  }
  EXPECT_LE(max_error, 1e-3 * fixture.logits_std);
}

TEST_P(GoldenTest, GreedyContinuationMatchesTransformers) {
  const GoldenFixture fixture = testing::load_golden_fixture(GetParam());
  LocalModel model(fixture.dir, pool());
  GenerationRequest request;
  request.prompt = fixture.prompt_ids;
  request.max_tokens = static_cast<std::int32_t>(fixture.greedy_ids.size());
  const GenerationResult result = generate(model, request);
  EXPECT_EQ(result.tokens, fixture.greedy_ids);
}

TEST_P(GoldenTest, BatchedSequencesMatchSeparateOnes) {
  // Two sequences of different lengths in one forward pass give each one's own logits.
  const GoldenFixture fixture = testing::load_golden_fixture(GetParam());
  LocalModel model(fixture.dir, pool());
  const std::vector<std::int32_t> first(fixture.prompt_ids.begin(), fixture.prompt_ids.begin() + 25);
  const std::vector<std::int32_t> second(fixture.prompt_ids.begin(), fixture.prompt_ids.begin() + 40);
  const SequenceTokens batch[] = {{model.open_sequence(), first}, {model.open_sequence(), second}};
  std::vector<float> logits;
  model.forward(batch, false, logits);
  ASSERT_EQ(logits.size(), 2 * fixture.vocab);
  double max_error = 0.0;
  for (std::size_t v = 0; v < fixture.vocab; ++v) {
    max_error = std::max(max_error, std::abs(static_cast<double>(logits[v]) - fixture.logits[24 * fixture.vocab + v]));
    max_error = std::max(max_error, std::abs(static_cast<double>(logits[fixture.vocab + v]) -
                                             fixture.logits[39 * fixture.vocab + v]));
  }
  EXPECT_LE(max_error, 1e-3 * fixture.logits_std);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GoldenTest, ::testing::ValuesIn(testing::golden_fixture_names()),
                         [](const auto& test_info) { return test_info.param; });

}  // namespace
}  // namespace shardlm
