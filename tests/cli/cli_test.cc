// The shardlm binary as a user runs it: output formats, exit codes and error messages.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "golden/fixture.h"
#include "runtime/temp_dir.h"
#include "support/run_command.h"

namespace shardlm {
namespace {

using ::testing::HasSubstr;
using testing::run_shardlm;

std::string fixture(const std::string& name) { return (testing::fixtures_dir() / name).string(); }

TEST(CliTest, GenerateJsonReportsTheGreedyContinuation) {
  const auto golden = testing::load_golden_fixture("llama_bf16");
  const auto run = run_shardlm("generate --model " + fixture("llama_bf16") + " --prompt-ids " +
                                   testing::join_ids(golden.prompt_ids) + " --max-tokens 24 --temp 0 --json",
                               false);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto out = nlohmann::json::parse(run.output);
  EXPECT_EQ(out["ids"].get<std::vector<std::int32_t>>(), golden.greedy_ids);
  EXPECT_EQ(out["prompt_tokens"], golden.prompt_ids.size());
  EXPECT_EQ(out["generated_tokens"], 24);
  EXPECT_GT(out["prompt_tps"].get<double>(), 0.0);
  EXPECT_GT(out["generation_tps"].get<double>(), 0.0);
  EXPECT_GT(out["peak_rss_bytes"].get<double>(), 1e6);
  EXPECT_TRUE(out["text"].is_string());
}

TEST(CliTest, LogitsFileMatchesTransformers) {
  const auto golden = testing::load_golden_fixture("qwen2_f32");
  testing::TempDir dir;
  const auto path = dir.path() / "logits.f32";
  const auto run = run_shardlm("logits --model " + fixture("qwen2_f32") + " --prompt-ids " +
                               testing::join_ids(golden.prompt_ids) + " --out " + path.string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::vector<float> logits(golden.logits.size());
  std::ifstream file(path, std::ios::binary);
  file.read(reinterpret_cast<char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  ASSERT_TRUE(file);
  EXPECT_EQ(file.peek(), EOF) << "file longer than [positions][vocab]";
  for (std::size_t i = 0; i < logits.size(); ++i) {
    ASSERT_NEAR(logits[i], golden.logits[i], 1e-3 * golden.logits_std) << "element " << i;
  }
}

TEST(CliTest, GenerateStreamsTextFromATextPrompt) {
  const auto run = run_shardlm("generate --model " + fixture("llama_f32") +
                               " --prompt 'This License' --max-tokens 12 --temp 0.8 --top-p 0.9 --seed 3");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("tokens/s"));
}

TEST(CliTest, InfoCountsParametersFromTheConfig) {
  // qwen3: embeddings and LM head untied (2 x 512 x 64), per layer q 128x64, k and v 64x64 each,
  // o 64x128, MLP 3 x 160x64, four norms of 64 and two of 16; final norm 64.
  const long per_layer = 128 * 64 + 2 * 64 * 64 + 64 * 128 + 3 * 160 * 64 + 2 * 64 + 2 * 16;
  const long expected = 2 * 512 * 64 + 4 * per_layer + 64;
  const auto run = run_shardlm("info --json --model " + fixture("qwen3_bf16"), false);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto out = nlohmann::json::parse(run.output);
  EXPECT_EQ(out["architecture"], "Qwen3ForCausalLM");
  EXPECT_EQ(out["parameters"].get<long>(), expected);
  EXPECT_EQ(out["weight_bytes"].get<long>(), 2 * expected);
  EXPECT_EQ(out["dtypes"], nlohmann::json::array({"BF16"}));
}

TEST(CliTest, InfoPrintsThePerRankPlan) {
  const auto run = run_shardlm("info --json --tp 2 --pp 2 --model " + fixture("llama_mha_f32"), false);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto plan = nlohmann::json::parse(run.output)["plan"];
  ASSERT_EQ(plan["ranks"].size(), 4u);
  EXPECT_EQ(plan["ranks"][0]["layers"], nlohmann::json::array({0, 2}));
  EXPECT_EQ(plan["ranks"][3]["layers"], nlohmann::json::array({2, 4}));
  EXPECT_EQ(plan["ranks"][1]["q_heads"], nlohmann::json::array({4, 8}));
  EXPECT_EQ(plan["ranks"][3]["lm_head"], true);
  const auto text = run_shardlm("info --tp 2 --pp 2 --model " + fixture("llama_mha_f32"));
  EXPECT_THAT(text.output, HasSubstr("plan for --tp 2 --pp 2 (4 ranks)"));
  const auto refused = run_shardlm("info --tp 3 --model " + fixture("llama_mha_f32"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("tp 3 does not divide the 8 attention heads"));
}

TEST(CliTest, MissingModelFolderFails) {
  const auto run = run_shardlm("generate --model /nonexistent/model --prompt-ids 1,2");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("/nonexistent/model"));
}

TEST(CliTest, MalformedPromptIdsAreNamed) {
  const auto run = run_shardlm("generate --model " + fixture("llama_f32") + " --prompt-ids 1,x7");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("'x7' is not a token id"));
}

TEST(CliTest, TokenOutsideVocabularyIsRefused) {
  const auto run = run_shardlm("generate --model " + fixture("llama_f32") + " --prompt-ids 1,512");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("token id 512 is outside the vocabulary"));
}

TEST(CliTest, BadSamplingParameterIsNamed) {
  const auto run = run_shardlm("generate --model " + fixture("llama_f32") + " --prompt-ids 1,2 --top-p 1.5");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("top-p"));
}

TEST(CliTest, PromptAndPromptIdsExcludeEachOther) {
  const auto run = run_shardlm("generate --model " + fixture("llama_f32") + " --prompt hi --prompt-ids 1,2");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("excludes"));
}

TEST(CliTest, UnknownFlagFails) {
  const auto run = run_shardlm("generate --model " + fixture("llama_f32") + " --prompt-ids 1 --bogus");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("--bogus"));
}

}  // namespace
}  // namespace shardlm
