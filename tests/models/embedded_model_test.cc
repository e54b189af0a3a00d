// The embedded model in models/tiny-en against what transformers generated from it at training time.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "golden/fixture.h"
#include "runtime/engine/generation.h"
#include "runtime/engine/local_model.h"
#include "runtime/io/json_file.h"
#include "runtime/text/tokenizer.h"
#include "runtime/threading/thread_pool.h"
#include "support/run_command.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;

fs::path model_dir() { return testing::fixtures_dir().parent_path().parent_path() / "models" / "tiny-en"; }

TEST(EmbeddedModelTest, TokenizesThePromptAsSentencepieceDid) {
  const auto reference = read_json_file(model_dir() / "reference_generation.json");
  const Tokenizer tokenizer(model_dir());
  EXPECT_EQ(tokenizer.encode(reference["prompt"].get<std::string>()),
            reference["prompt_ids"].get<std::vector<std::int32_t>>());
}

TEST(EmbeddedModelTest, GreedyContinuationMatchesTransformers) {
  const auto reference = read_json_file(model_dir() / "reference_generation.json");
  const auto expected = reference["greedy_ids"].get<std::vector<std::int32_t>>();
  ThreadPool pool(2);
  LocalModel model(model_dir(), pool);
  const Tokenizer tokenizer(model_dir());
  GenerationRequest request;
  request.prompt = reference["prompt_ids"].get<std::vector<std::int32_t>>();
  request.max_tokens = static_cast<std::int32_t>(expected.size());
  request.stop_tokens = tokenizer.special().eos;
  EXPECT_EQ(generate(model, request).tokens, expected);
}

TEST(EmbeddedModelTest, ShardedRunsWriteTheSameText) {
  const auto reference = read_json_file(model_dir() / "reference_generation.json");
  const auto expected = reference["greedy_ids"].get<std::vector<std::int32_t>>();
  for (const std::string layout : {"--tp 2", "--pp 2"}) {
    const auto run = testing::run_shardlm_mpi(
        2,
        fmt::format("generate --model {} {} --prompt '{}' --max-tokens {} --temp 0 --json", model_dir().string(), layout,
                    reference["prompt"].get<std::string>(), expected.size()),
        false);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(nlohmann::json::parse(run.output)["ids"].get<std::vector<std::int32_t>>(), expected) << layout;
  }
}

}  // namespace
}  // namespace shardlm
