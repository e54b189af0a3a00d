// `shardlm quantize --target-bpw` end to end on the small llama fixture, with sensitivities from a
// file: the modules it puts at high bits are those a sum over the fixture's shapes, worked out here,
// allows; the folder loads and runs; bad requests fail with the reason; --report-ppl works alone
// and across ranks.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "golden/fixture.h"
#include "runtime/io/json_file.h"
#include "runtime/temp_dir.h"
#include "support/run_command.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kModel = testing::fixtures_dir() / "llama_bf16";
const fs::path kText = testing::fixtures_dir() / "perplexity" / "text.txt";

// The fixture (config.json): hidden 64, 4 layers, 8 query and 4 KV heads of 8, FFN 160, vocabulary
// 512, tied embeddings, all bf16. With 4-bit and 5-bit groups of 64, every matrix with 64 inputs is
// a candidate; down_proj (160 inputs) stays bf16.
std::map<std::string, int> candidate_rows() {
  std::map<std::string, int> rows = {{"model.embed_tokens", 512}};
  for (int layer = 0; layer < 4; ++layer) {
    const std::string prefix = fmt::format("model.layers.{}.", layer);
    rows[prefix + "self_attn.q_proj"] = 64;
    rows[prefix + "self_attn.k_proj"] = 32;
    rows[prefix + "self_attn.v_proj"] = 32;
    rows[prefix + "self_attn.o_proj"] = 64;
    rows[prefix + "mlp.gate_proj"] = 160;
    rows[prefix + "mlp.up_proj"] = 160;
  }
  return rows;
}

// Bits per weight by hand: a row of 64 inputs takes 64 codes plus a bf16 scale and bias (4 bytes).
double hand_bits_per_weight(const std::set<std::string>& high) {
  double bytes = 4 * 64 * 160 * 2 + (4 * 2 * 64 + 64) * 2;  // down_proj and the norms in bf16
  double parameters = 4 * 64 * 160 + 4 * 2 * 64 + 64;
  for (const auto& [module, rows] : candidate_rows()) {
    const int bits = high.count(module) != 0 ? 5 : 4;
    bytes += rows * (64 * bits / 8 + 4);
    parameters += rows * 64;
  }
  return bytes * 8 / parameters;
}

// Distinct sensitivities in an order unrelated to the module names or sizes.
std::map<std::string, double> sensitivities() {
  std::map<std::string, double> values;
  int i = 0;
  for (const auto& [module, rows] : candidate_rows()) values[module] = static_cast<double>((i++ * 11) % 25) / 7.0;
  return values;
}

std::vector<std::string> most_sensitive_first() {
  std::vector<std::pair<double, std::string>> ranked;
  for (const auto& [module, value] : sensitivities()) ranked.emplace_back(-value, module);
  std::sort(ranked.begin(), ranked.end());
  std::vector<std::string> modules;
  for (const auto& [negated, module] : ranked) modules.push_back(module);
  return modules;
}

fs::path write_sensitivities(const fs::path& dir, const std::map<std::string, double>& values,
                             int high_bits = 5) {
  const nlohmann::json file = {
      {"model", kModel.string()},
      {"settings", {{"low", {{"bits", 4}, {"group_size", 64}}}, {"high", {{"bits", high_bits}, {"group_size", 64}}}}},
      {"calibration", {{"data", "by hand"}}},
      {"sensitivities", values}};
  std::ofstream(dir / "sensitivities.json") << file.dump(2);
  return dir / "sensitivities.json";
}

std::set<std::string> high_modules_in(const fs::path& quantized) {
  std::set<std::string> high;
  const auto config = read_json_file(quantized / "config.json");
  for (const auto& [key, value] : config["quantization"].items()) {
    if (value.is_object() && value["bits"] == 5) high.insert(key);
  }
  return high;
}

class QuantizeCommandTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;

  testing::CommandResult quantize(const std::string& out, const std::string& arguments) {
    return testing::run_shardlm(
        fmt::format("quantize --model {} --out {} {}", kModel.string(), (dir_.path() / out).string(), arguments));
  }
};

TEST_F(QuantizeCommandTest, MixedPrecisionFillsTheBudgetMostSensitiveFirst) {
  const fs::path sensitivities_file = write_sensitivities(dir_.path(), sensitivities());
  const auto ranked = most_sensitive_first();
  const double low = hand_bits_per_weight({});
  const double all = hand_bits_per_weight({ranked.begin(), ranked.end()});
  for (const double share : {0.37, 0.71}) {
    const double target = low + share * (all - low);
    std::set<std::string> expected;
    std::size_t k = 0;
    while (k < ranked.size() && hand_bits_per_weight({ranked.begin(), ranked.begin() + k + 1}) <= target) ++k;
    expected.insert(ranked.begin(), ranked.begin() + k);
    ASSERT_GT(k, 0u);
    ASSERT_LT(k, ranked.size());

    const std::string out = fmt::format("mixed{}", share);
    const auto run =
        quantize(out, fmt::format("--target-bpw {:.17g} --sensitivities {}", target, sensitivities_file.string()));
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(high_modules_in(dir_.path() / out), expected) << "target " << target;
    const auto config = read_json_file(dir_.path() / out / "config.json");
    EXPECT_EQ(config["quantization"]["model.layers.2.mlp.down_proj"], false);
    EXPECT_EQ(config["quantization_config"], config["quantization"]);

    const auto info = testing::run_shardlm("info --json --model " + (dir_.path() / out).string(), false);
    ASSERT_EQ(info.exit_code, 0) << info.output;
    EXPECT_NEAR(nlohmann::json::parse(info.output)["bits_per_weight"].get<double>(), hand_bits_per_weight(expected),
                1e-12);
    EXPECT_THAT(run.output, HasSubstr(fmt::format("{:.4f} bits per weight", hand_bits_per_weight(expected))));
  }
  const auto run = testing::run_shardlm(fmt::format("perplexity --model {} --data {} --seq-len 64 --num-samples 4",
                                                    (dir_.path() / "mixed0.37").string(), kText.string()));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("perplexity"));
}

TEST_F(QuantizeCommandTest, TargetAboveEveryModuleAtHighBitsSaysSo) {
  const fs::path file = write_sensitivities(dir_.path(), sensitivities());
  const auto run = quantize("all", "--target-bpw 12 --sensitivities " + file.string());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("so all 25 of them take it"));
  EXPECT_EQ(high_modules_in(dir_.path() / "all").size(), candidate_rows().size());
}

TEST_F(QuantizeCommandTest, RefusesUnreachableTargets) {
  const fs::path file = write_sensitivities(dir_.path(), sensitivities());
  auto run = quantize("a", "--target-bpw 4.5 --sensitivities " + file.string());
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("--target-bpw 4.5 is at or below 4.5"));
  const double below = hand_bits_per_weight({}) - 0.01;
  run = quantize("b", fmt::format("--target-bpw {:.4f} --sensitivities {}", below, file.string()));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr(fmt::format("below the {:.4f} bits per weight", hand_bits_per_weight({}))));
  EXPECT_FALSE(fs::exists(dir_.path() / "a"));
  EXPECT_FALSE(fs::exists(dir_.path() / "b"));
}

TEST_F(QuantizeCommandTest, RefusesUnusableSensitivities) {
  auto values = sensitivities();
  values.erase("model.layers.1.self_attn.k_proj");
  auto run = quantize("a", "--target-bpw 7.0 --sensitivities " + write_sensitivities(dir_.path(), values).string());
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("no sensitivity for module 'model.layers.1.self_attn.k_proj'"));
  const fs::path six_bit = write_sensitivities(dir_.path(), sensitivities(), 6);
  run = quantize("b", "--target-bpw 7.0 --sensitivities " + six_bit.string());
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("to 6-bit in groups of 64, but this quantization is from 4-bit in groups of 64 "
                                    "to 5-bit in groups of 64"));
}

TEST_F(QuantizeCommandTest, RefusesMissingOrConflictingOptions) {
  auto run = quantize("a", "--target-bpw 7.0");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("give --calibration FILE"));
  run = quantize("b", "--bits 8 --report-ppl");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("--report-ppl needs --calibration FILE"));
  run = quantize("c", "--target-bpw 7.0 --bits 8");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("excludes"));
  run = quantize("d", "--low-bits 3");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("requires --target-bpw"));
  run = quantize("e", "--target-bpw 7.0 --calibration /nonexistent/calibration.txt");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("/nonexistent/calibration.txt"));
}

TEST_F(QuantizeCommandTest, SavesEstimatedSensitivitiesThatReproduceThePlan) {
  const std::string data = fmt::format("--calibration {} --seq-len 32 --num-samples 4", kText.string());
  const auto run = quantize("estimated", "--target-bpw 7.0 " + data);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const fs::path saved = dir_.path() / "estimated.sensitivities.json";
  ASSERT_TRUE(fs::exists(saved)) << "saved beside the output folder by default";
  const auto file = read_json_file(saved);
  EXPECT_EQ(file["settings"]["high"]["bits"], 5);
  EXPECT_EQ(file["calibration"]["seq_len"], 32);
  EXPECT_EQ(file["sensitivities"].size(), candidate_rows().size());
  const auto again = quantize("again", "--target-bpw 7.0 --sensitivities " + saved.string());
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(high_modules_in(dir_.path() / "again"), high_modules_in(dir_.path() / "estimated"));
}

// The figures --report-ppl prints: original perplexity, quantized perplexity, KL.
std::vector<double> report_figures(const std::string& output) {
  std::smatch match;
  const std::regex pattern(
      R"(original perplexity ([0-9.]+)[^]*quantized perplexity ([0-9.]+)[^]*)"
      R"(KL\(original ‖ quantized\) ([0-9.e-]+))");
  EXPECT_TRUE(std::regex_search(output, match, pattern)) << output;
  if (match.empty()) return {};
  return {std::stod(match[1]), std::stod(match[2]), std::stod(match[3])};
}

TEST_F(QuantizeCommandTest, ReportsPerplexityAndKLLikeThePerplexityCommand) {
  const std::string data = fmt::format("--calibration {} --seq-len 64 --num-samples 8", kText.string());
  const auto run = quantize("q3", "--bits 3 --report-ppl " + data);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto figures = report_figures(run.output);
  ASSERT_EQ(figures.size(), 3u);

  const auto perplexity = [&](const fs::path& model, const std::string& base) {
    const fs::path json = dir_.path() / "p.json";
    const auto result = testing::run_shardlm(fmt::format("perplexity --model {} {} --data {} --seq-len 64 "
                                                         "--num-samples 8 --output {}",
                                                         model.string(), base, kText.string(), json.string()));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return read_json_file(json);
  };
  const auto original = perplexity(kModel, "");
  const auto quantized = perplexity(dir_.path() / "q3", "--base-model " + kModel.string());
  EXPECT_NEAR(figures[0], original["perplexity"].get<double>(), 1e-3 * figures[0]);
  EXPECT_NEAR(figures[1], quantized["perplexity"].get<double>(), 1e-3 * figures[1]);
  EXPECT_NEAR(figures[2], quantized["kl"]["mean"].get<double>(), 1e-3 * figures[2]);
  EXPECT_GT(figures[2], 0.0);

  // Two replicas share the windows; rank 0 writes, both load what it wrote.
  const fs::path sensitivities_file = write_sensitivities(dir_.path(), sensitivities());
  const auto mpi = testing::run_shardlm_mpi(
      2, fmt::format("quantize --model {} --out {} --target-bpw 7.0 --sensitivities {} --replicas 2 --report-ppl {}",
                     kModel.string(), (dir_.path() / "mixed-mpi").string(), sensitivities_file.string(), data));
  ASSERT_EQ(mpi.exit_code, 0) << mpi.output;
  const auto mpi_figures = report_figures(mpi.output);
  ASSERT_EQ(mpi_figures.size(), 3u);
  EXPECT_NEAR(mpi_figures[0], figures[0], 1e-3 * figures[0]) << "same windows, same original model";
}

}  // namespace
}  // namespace shardlm
