// `shardlm bench --json` on a tiny model, one rank and two: every field present, positive and
// consistent with the others and with weight sizes worked out here from the shapes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "golden/fixture.h"
#include "runtime/kernels/matmul.h"
#include "runtime/temp_dir.h"
#include "support/run_command.h"

namespace shardlm {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

constexpr const char* kScalarFields[] = {
    "dtype", "prompt_tokens", "gen_tokens", "batch", "prompt_tokens_per_s", "generation_tokens_per_s", "ttft_s",
    "peak_rss_bytes_max", "peak_rss_bytes_sum", "weight_bytes_per_rank", "decode_bandwidth_gbs",
    "probe_bandwidth_gbs", "mpi_seconds_per_token"};
constexpr const char* kSpreadFields[] = {"prompt_tokens_per_s", "generation_tokens_per_s", "ttft_s",
                                         "decode_bandwidth_gbs", "mpi_seconds_per_token"};

json read_json(const std::filesystem::path& path) {
  std::ifstream file(path);
  return json::parse(file);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// What must hold for any result, whatever the model and layout.
void check_result(const json& r, int trials) {
  for (const char* field : kScalarFields) ASSERT_TRUE(r.contains(field)) << field;
  for (const char* field : {"tp", "pp", "replicas", "threads"}) ASSERT_TRUE(r["layout"].contains(field)) << field;
  for (const char* field : {"cpu", "cores", "kernel"}) ASSERT_TRUE(r["machine"].contains(field)) << field;
  EXPECT_EQ(r["machine"]["kernel"], matmul_kernel_name());
  ASSERT_EQ(r["trials"].size(), static_cast<std::size_t>(trials));

  const double prompts = r["batch"].get<double>() * r["layout"]["replicas"].get<double>();
  const double weight_bytes = r["weight_bytes_per_rank"].get<double>();
  std::map<std::string, std::vector<double>> per_trial;
  for (const auto& t : r["trials"]) {
    const double steps = t["decode_steps"].get<double>();
    EXPECT_EQ(steps, r["gen_tokens"].get<double>() - 1) << "the first token comes from the prompt pass";
    EXPECT_GT(t["prompt_seconds"].get<double>(), 0.0);
    EXPECT_GT(t["generation_seconds"].get<double>(), 0.0);
    // tokens/s x seconds = tokens.
    EXPECT_NEAR(t["prompt_tokens_per_s"].get<double>() * t["prompt_seconds"].get<double>(),
                prompts * r["prompt_tokens"].get<double>(), 1e-6);
    EXPECT_NEAR(t["generation_tokens_per_s"].get<double>() * t["generation_seconds"].get<double>(), prompts * steps,
                1e-6);
    EXPECT_EQ(t["ttft_s"], t["prompt_seconds"]);
    // Bandwidth = bytes a step reads / seconds a step takes.
    EXPECT_NEAR(t["decode_bandwidth_gbs"].get<double>() * 1e9 * t["generation_seconds"].get<double>() / steps,
                weight_bytes, 1e-6 * weight_bytes);
    for (const char* field : kSpreadFields) per_trial[field].push_back(t[field].get<double>());
  }
  for (const char* field : kSpreadFields) {
    const auto& values = per_trial[field];
    EXPECT_DOUBLE_EQ(r[field].get<double>(), median(values)) << field;
    EXPECT_DOUBLE_EQ(r[std::string(field) + "_min"].get<double>(), *std::min_element(values.begin(), values.end()));
    EXPECT_DOUBLE_EQ(r[std::string(field) + "_max"].get<double>(), *std::max_element(values.begin(), values.end()));
  }
  for (const char* field : {"prompt_tokens_per_s", "generation_tokens_per_s", "ttft_s", "decode_bandwidth_gbs",
                            "probe_bandwidth_gbs", "peak_rss_bytes_max"}) {
    EXPECT_GT(r[field].get<double>(), 0.0) << field;
  }

  const auto& ranks = r["ranks"];
  ASSERT_EQ(ranks.size(), static_cast<std::size_t>(r["layout"]["tp"].get<int>() * r["layout"]["pp"].get<int>() *
                                                    r["layout"]["replicas"].get<int>()));
  double peak_max = 0, peak_sum = 0, weights_max = 0;
  for (const auto& rank : ranks) {
    peak_max = std::max(peak_max, rank["peak_rss_bytes"].get<double>());
    peak_sum += rank["peak_rss_bytes"].get<double>();
    weights_max = std::max(weights_max, rank["weight_bytes"].get<double>());
    EXPECT_GT(rank["probe_bandwidth_gbs"].get<double>(), 0.0);
    // Resident memory holds at least the rank's weights.
    EXPECT_GT(rank["peak_rss_bytes"].get<double>(), rank["weight_bytes"].get<double>());
  }
  EXPECT_EQ(r["peak_rss_bytes_max"].get<double>(), peak_max);
  EXPECT_EQ(r["peak_rss_bytes_sum"].get<double>(), peak_sum);
  EXPECT_GE(peak_sum, peak_max);
  EXPECT_EQ(weight_bytes, weights_max);
  EXPECT_NEAR(r["roofline_percent"].get<double>(),
              100.0 * r["decode_bandwidth_gbs"].get<double>() / r["probe_bandwidth_gbs"].get<double>(), 1e-9);
}

TEST(BenchCommandTest, OneRankOnAFixtureWritesConsistentJsonAndCsv) {
  testing::TempDir dir;
  const auto json_path = dir.path() / "bench.json";
  const auto csv_path = dir.path() / "bench.csv";
  const auto run = testing::run_shardlm("bench --model " + (testing::fixtures_dir() / "llama_bf16").string() +
                                        " --prompt-tokens 16,40 --gen-tokens 6 --warmup 1 --trials 3 --threads 2"
                                        " --json " + json_path.string() + " --csv " + csv_path.string(),
                                        false);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("| llama_bf16 | bf16 | tp1 pp1 | 2 | 16 | 6 | 1 |"));
  const json results = read_json(json_path);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["prompt_tokens"], 16);
  EXPECT_EQ(results[1]["prompt_tokens"], 40);
  // Tied bf16 Llama: embedding 512x64 and per layer q, o 64x64, k, v 32x64, gate, up, down 160x64,
  // in bf16; norms (two per layer and the final one) widened to f32.
  const double weights = 2.0 * (512 * 64 + 4 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 160 * 64)) + 4.0 * (9 * 64);
  for (const auto& r : results) {
    check_result(r, 3);
    EXPECT_EQ(r["dtype"], "bf16");
    EXPECT_EQ(r["layout"], json({{"tp", 1}, {"pp", 1}, {"replicas", 1}, {"threads", 2}}));
    EXPECT_EQ(r["weight_bytes_per_rank"].get<double>(), weights);
    EXPECT_EQ(r["mpi_seconds_per_token"].get<double>(), 0.0) << "one rank does not use MPI";
  }

  std::ifstream csv(csv_path);
  std::string header, line;
  std::getline(csv, header);
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 2);
  for (const char* column : {"layout_tp", "prompt_tokens_per_s", "generation_tokens_per_s_min", "ttft_s_max",
                             "peak_rss_bytes_sum", "probe_bandwidth_gbs", "machine_kernel"}) {
    EXPECT_THAT(header, HasSubstr(column));
  }
}

TEST(BenchCommandTest, TwoTensorParallelRanksOnRandomQuantizedWeights) {
  testing::TempDir dir;
  const auto config = dir.write("tiny.json", R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 1000,
    "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "tie_word_embeddings": false})");
  const auto json_path = dir.path() / "bench.json";
  const auto run = testing::run_shardlm_mpi(2, "bench --config " + config.string() +
                                                   " --dummy --dtype q8 --tp 2 --threads 1 --prompt-tokens 24"
                                                   " --gen-tokens 8 --batch 2 --trials 2 --json " +
                                                   json_path.string(),
                                            false, 120);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json results = read_json(json_path);
  ASSERT_EQ(results.size(), 1u);
  const json& r = results[0];
  check_result(r, 2);
  EXPECT_EQ(r["model"], "tiny");
  EXPECT_EQ(r["dtype"], "q8");
  EXPECT_EQ(r["layout"], json({{"tp", 2}, {"pp", 1}, {"replicas", 1}, {"threads", 1}}));
  // Each rank holds half of every matrix: a q8 row of n inputs is n bytes of codes plus a bf16 scale
  // and bias per 64 inputs. Per layer: q 64x128, k and v 32x128, o 128x64, gate and up 128x128,
  // down 128x128; two f32 norms of 128. Half the vocabulary of the untied embedding and LM head
  // (500x128 each) and the f32 final norm.
  const auto q8 = [](double rows, double cols) { return rows * (cols + 4 * cols / 64); };
  const double layer = q8(64, 128) + 2 * q8(32, 128) + q8(128, 64) + 3 * q8(128, 128) + 2 * 128 * 4;
  const double expected = 2 * layer + 2 * q8(500, 128) + 128 * 4;
  for (const auto& rank : r["ranks"]) EXPECT_EQ(rank["weight_bytes"].get<double>(), expected);
  EXPECT_GT(r["mpi_seconds_per_token"].get<double>(), 0.0) << "tensor parallelism all-reduces every layer";
}

TEST(BenchCommandTest, RefusesIncompleteOrImpossibleRequests) {
  testing::TempDir dir;
  const auto config = dir.write("config.json", R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 100,
    "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 1, "num_attention_heads": 2,
    "num_key_value_heads": 2, "max_position_embeddings": 64})");
  const std::pair<std::string, std::string> cases[] = {
      {"", "give --model DIR, or --config FILE --dummy"},
      {"--dummy", "--dummy needs --config"},
      {"--config " + config.string(), "add --dummy"},
      {"--config " + config.string() + " --dummy --dtype q5", "unknown weight format 'q5'"},
      {"--config " + config.string() + " --dummy --dtype q4", "intermediate_size is 160"},
      {"--config " + config.string() + " --dummy --prompt-tokens 60 --gen-tokens 8", "max_position_embeddings 64"},
      {"--model " + (testing::fixtures_dir() / "llama_f32").string() + " --dtype q8", "--dtype applies to --dummy"},
      {"--config " + config.string() + " --dummy --json /nonexistent-dir/out.json", "does not exist"},
  };
  for (const auto& [arguments, message] : cases) {
    const auto run = testing::run_shardlm("bench " + arguments);
    EXPECT_NE(run.exit_code, 0) << arguments;
    EXPECT_THAT(run.output, HasSubstr(message)) << arguments;
  }
}

}  // namespace
}  // namespace shardlm
