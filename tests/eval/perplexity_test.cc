// shardlm perplexity against transformers' numbers for the same windows, and the same figure for
// every layout and replica count.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "golden/fixture.h"
#include "runtime/io/json_file.h"
#include "runtime/temp_dir.h"
#include "support/run_command.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path perplexity_text() { return testing::fixtures_dir() / "perplexity" / "text.txt"; }
fs::path repository_root() { return testing::fixtures_dir().parent_path().parent_path(); }

nlohmann::json run_perplexity(int ranks, const std::string& arguments) {
  testing::TempDir dir;
  const fs::path out = dir.path() / "out.json";
  const std::string command = fmt::format("perplexity {} --output {}", arguments, out.string());
  const auto run = ranks == 1 ? testing::run_shardlm(command) : testing::run_shardlm_mpi(ranks, command);
  if (run.exit_code != 0) throw std::runtime_error("shardlm perplexity failed:\n" + run.output);
  return read_json_file(out);
}

TEST(PerplexityTest, FixturesMatchTransformers) {
  const auto references = read_json_file(testing::fixtures_dir() / "perplexity" / "reference.json")["text.txt"];
  for (const std::string fixture : {"llama_f32", "qwen3_bf16"}) {
    const auto& reference = references[fixture];
    const auto out = run_perplexity(1, fmt::format("--model {} --data {} --seq-len {} --num-samples -1",
                                                   (testing::fixtures_dir() / fixture).string(),
                                                   perplexity_text().string(), reference["seq_len"].get<int>()));
    EXPECT_EQ(out["windows"], reference["windows"]) << fixture;
    EXPECT_EQ(out["tokens_scored"].get<double>(), reference["tokens_scored"].get<double>()) << fixture;
    const double expected = reference["perplexity"].get<double>();
    EXPECT_NEAR(out["perplexity"].get<double>(), expected, 1e-3 * expected) << fixture;
    EXPECT_NEAR(out["std_error"].get<double>(), reference["std_error"].get<double>(),
                1e-2 * reference["std_error"].get<double>())
        << fixture;
  }
}

TEST(PerplexityTest, EmbeddedModelMatchesTransformersOnItsHeldOutText) {
  const fs::path model = repository_root() / "models" / "tiny-en";
  const auto reference = read_json_file(model / "reference_perplexity.json");
  for (const nlohmann::json& expected : {reference, reference["seq_len_128"]}) {
    const auto out = run_perplexity(1, fmt::format("--model {} --data {} --seq-len {} --num-samples -1 --batch-size 4",
                                                   model.string(), (model / "heldout.txt").string(),
                                                   expected["seq_len"].get<int>()));
    EXPECT_EQ(out["windows"], expected["windows"]);
    EXPECT_EQ(out["tokens_scored"].get<double>(), expected["tokens_scored"].get<double>());
    const double ppl = expected["perplexity"].get<double>();
    EXPECT_NEAR(out["perplexity"].get<double>(), ppl, 1e-3 * ppl) << "seq_len " << expected["seq_len"];
  }
}

TEST(PerplexityTest, EveryLayoutAndReplicaCountGivesTheSameFigure) {
  const std::string common = fmt::format("--model {} --data {} --seq-len 48 --num-samples 24 --seed 5 --batch-size 3",
                                         (testing::fixtures_dir() / "mistral_f32").string(), perplexity_text().string());
  const auto single = run_perplexity(1, common);
  const double ppl = single["perplexity"].get<double>();
  EXPECT_EQ(single["windows"], 24);
  EXPECT_EQ(single["tokens_scored"].get<double>(), 24 * 47);
  // Tokens per second counts every token fed: windows x seq_len over the measured seconds.
  EXPECT_NEAR(single["tokens_per_second"].get<double>() * single["seconds"].get<double>(), 24 * 48, 1.0);
  struct Case {
    int ranks;
    std::string flags;
  };
  for (const Case& c : {Case{2, "--tp 2"}, Case{2, "--pp 2"}, Case{4, "--tp 2 --pp 2"}, Case{2, "--replicas 2"},
                        Case{4, "--replicas 2 --pp 2"}}) {
    const auto out = run_perplexity(c.ranks, common + " " + c.flags);
    EXPECT_NEAR(out["perplexity"].get<double>(), ppl, 1e-4 * ppl) << c.flags;
    EXPECT_EQ(out["windows"], 24) << c.flags;
    EXPECT_EQ(out["layout"]["ranks"], c.ranks) << c.flags;
    EXPECT_EQ(out["ranks"].size(), static_cast<std::size_t>(c.ranks)) << c.flags;
    EXPECT_GE(out["peak_rss_bytes_sum"].get<double>(), out["peak_rss_bytes_max"].get<double>()) << c.flags;
  }
}

TEST(PerplexityTest, KlAgainstItselfIsZeroAndAgainstAnotherModelPositive) {
  const std::string data = fmt::format("--data {} --seq-len 32 --num-samples 8", perplexity_text().string());
  const std::string f32 = (testing::fixtures_dir() / "llama_f32").string();
  const auto self = run_perplexity(1, fmt::format("--model {} --base-model {} {}", f32, f32, data));
  EXPECT_NEAR(self["kl"]["mean"].get<double>(), 0.0, 1e-9);
  EXPECT_EQ(self["kl"]["top1_agreement"].get<double>(), 1.0);
  const auto other = run_perplexity(
      2, fmt::format("--model {} --base-model {} {} --pp 2", (testing::fixtures_dir() / "llama_bf16").string(), f32, data));
  EXPECT_GT(other["kl"]["mean"].get<double>(), 0.0);
  EXPECT_LT(other["kl"]["mean"].get<double>(), 0.01) << "bf16 rounding of the same weights moves the distribution little";
  EXPECT_GT(other["kl"]["top1_agreement"].get<double>(), 0.9);
}

TEST(PerplexityTest, DataErrorsAreReported) {
  const std::string model = (testing::fixtures_dir() / "llama_f32").string();
  const auto too_short = testing::run_shardlm(
      fmt::format("perplexity --model {} --data {} --seq-len 100000", model, perplexity_text().string()));
  EXPECT_NE(too_short.exit_code, 0);
  EXPECT_THAT(too_short.output, HasSubstr("fewer than one window of seq-len 100000"));
  const auto no_data = testing::run_shardlm(fmt::format("perplexity --model {}", model));
  EXPECT_NE(no_data.exit_code, 0);
  EXPECT_THAT(no_data.output, HasSubstr("give --data FILE or --tokens FILE"));
  const auto wrong_kind = testing::run_shardlm(
      fmt::format("perplexity --model {} --tokens {}", model, perplexity_text().string()));
  EXPECT_NE(wrong_kind.exit_code, 0);
  EXPECT_THAT(wrong_kind.output, HasSubstr("must be a .i32 or .npy file"));
}

}  // namespace
}  // namespace shardlm
