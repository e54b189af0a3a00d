// shardlm quantize on the embedded model: the quantized folder loads, computes what its dequantized
// weights compute, stays close to the original, and shards like any model.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "golden/fixture.h"
#include "runtime/engine/local_model.h"
#include "runtime/io/json_file.h"
#include "runtime/io/model_folder.h"
#include "runtime/io/safetensors_writer.h"
#include "runtime/quant/quantize_model.h"
#include "runtime/temp_dir.h"
#include "runtime/threading/thread_pool.h"
#include "support/run_command.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path tiny_en() { return testing::fixtures_dir().parent_path().parent_path() / "models" / "tiny-en"; }

float to_float(const std::byte* data, DType dtype, std::size_t i) {
  std::uint16_t half = 0;
  switch (dtype) {
    case DType::F32: {
      float value;
      std::memcpy(&value, data + 4 * i, 4);
      return value;
    }
    case DType::F16: std::memcpy(&half, data + 2 * i, 2); return f16_to_f32(half);
    case DType::BF16: std::memcpy(&half, data + 2 * i, 2); return bf16_to_f32(half);
  }
  return 0.0f;
}

// The quantized folder with every quantized module turned back into an f32 weight by the format's
// own rule, and every other tensor copied: the model the quantized one must compute.
void write_dequantized(const fs::path& quantized, const fs::path& out, QuantSpec spec) {
  fs::create_directories(out);
  const ModelFolder folder(quantized);
  SafetensorsWriter writer;
  for (const auto& [name, entry] : folder.tensors()) {
    const bool is_scales = name.size() > 7 && name.compare(name.size() - 7, 7, ".scales") == 0;
    const bool is_biases = name.size() > 7 && name.compare(name.size() - 7, 7, ".biases") == 0;
    if (is_biases) continue;
    if (entry->type == StorageType::U32) continue;
    if (!is_scales) {
      writer.add(name, entry->type, entry->shape, std::vector<std::byte>(entry->data, entry->data + entry->nbytes));
      continue;
    }
    const std::string module = name.substr(0, name.size() - 7);
    const TensorEntry& packed = folder.tensor(module + ".weight");
    const TensorEntry& biases = folder.tensor(module + ".biases");
    const DType dtype = *float_dtype(entry->type);
    const auto rows = static_cast<std::size_t>(packed.shape[0]);
    const std::size_t groups = static_cast<std::size_t>(entry->shape[1]);
    const std::size_t cols = groups * static_cast<std::size_t>(spec.group_size);
    std::vector<std::byte> bytes(rows * cols * 4);
    std::vector<float> scales(groups), bias(groups), row(cols);
    std::vector<std::uint32_t> words(packed_words(cols, spec.bits));
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t g = 0; g < groups; ++g) {
        scales[g] = to_float(entry->data, dtype, r * groups + g);
        bias[g] = to_float(biases.data, dtype, r * groups + g);
      }
      std::memcpy(words.data(), packed.data + r * words.size() * 4, words.size() * 4);
      dequantize_row(words.data(), scales.data(), bias.data(), cols, spec, row.data());
      std::memcpy(bytes.data() + r * cols * 4, row.data(), cols * 4);
    }
    writer.add(module + ".weight", StorageType::F32,
               {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)}, std::move(bytes));
  }
  writer.write(out / "model.safetensors");
  auto config = read_json_file(quantized / "config.json");
  config.erase("quantization");
  config.erase("quantization_config");
  std::ofstream(out / "config.json") << config.dump(2);
  fs::copy_file(quantized / "tokenizer.model", out / "tokenizer.model");
}

class QuantizedModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    quantize_model(tiny_en(), dir_->path() / "q4", {4, 64}, uniform_plan({4, 64}));
    quantize_model(tiny_en(), dir_->path() / "q8", {8, 64}, uniform_plan({8, 64}));
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path q4() { return dir_->path() / "q4"; }
  static fs::path q8() { return dir_->path() / "q8"; }
  static testing::TempDir* dir_;
};
testing::TempDir* QuantizedModelTest::dir_ = nullptr;

const std::vector<std::int32_t> kPrompt = {1, 644, 262, 2355, 286, 262, 1010, 17, 40, 900, 262, 1200, 1300, 77, 300, 12};

TEST_F(QuantizedModelTest, ConfigRecordsTheParameters) {
  const auto config = read_json_file(q4() / "config.json");
  EXPECT_EQ(config["quantization"]["bits"], 4);
  EXPECT_EQ(config["quantization"]["group_size"], 64);
  // Every projection's inputs (256 or 768) are whole groups, so no module needs an override.
  EXPECT_FALSE(config["quantization"].contains("model.layers.0.mlp.down_proj"));
  const ModelFolder folder(q4());
  EXPECT_EQ(folder.tensor("model.layers.0.self_attn.q_proj.weight").type, StorageType::U32);
  EXPECT_EQ(folder.tensor("model.layers.0.self_attn.q_proj.weight").shape, (std::vector<std::int64_t>{256, 32}));
  EXPECT_EQ(folder.tensor("model.layers.0.self_attn.q_proj.scales").shape, (std::vector<std::int64_t>{256, 4}));
  EXPECT_EQ(folder.tensor("model.layers.0.mlp.down_proj.weight").shape, (std::vector<std::int64_t>{256, 96}));
}

TEST_F(QuantizedModelTest, InfoCountsTheOriginalParameters) {
  const auto info = [](const fs::path& model) {
    const auto run = testing::run_shardlm(fmt::format("info --json --model {}", model.string()), false);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return nlohmann::json::parse(run.output);
  };
  const auto original = info(tiny_en());
  const auto quantized = info(q4());
  EXPECT_EQ(quantized["parameters"], original["parameters"]);
  EXPECT_NEAR(original["bits_per_weight"].get<double>(), 16.0, 1e-9);
  // 4 bits plus a bf16 scale and bias per 64 weights is 4.5; down_proj (a third of each layer's
  // MLP) stays at 16, and the norms too.
  EXPECT_GT(quantized["bits_per_weight"].get<double>(), 4.5);
  EXPECT_LT(quantized["bits_per_weight"].get<double>(), 8.0);
  EXPECT_NEAR(quantized["bits_per_weight"].get<double>(),
              quantized["weight_bytes"].get<double>() * 8 / quantized["parameters"].get<double>(), 1e-9);
}

TEST_F(QuantizedModelTest, ComputesWhatItsDequantizedWeightsCompute) {
  write_dequantized(q4(), dir_->path() / "q4-dequantized", {4, 64});
  const auto quantized = testing::prompt_logits(q4(), kPrompt);
  const auto reference = testing::prompt_logits(dir_->path() / "q4-dequantized", kPrompt);
  ASSERT_EQ(quantized.size(), reference.size());
  double scale = 0.0, error = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    scale = std::max(scale, std::abs(static_cast<double>(reference[i])));
    error = std::max(error, std::abs(static_cast<double>(quantized[i]) - reference[i]));
  }
  EXPECT_LE(error, 1e-4 * scale);
}

TEST_F(QuantizedModelTest, EightBitPerplexityStaysWithinHalfAPercent) {
  const auto run = [&](const fs::path& model) {
    testing::TempDir out;
    const auto result = testing::run_shardlm(fmt::format(
        "perplexity --model {} --data {} --seq-len 128 --num-samples 48 --output {}", model.string(),
        (tiny_en() / "heldout.txt").string(), (out.path() / "p.json").string()));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return read_json_file(out.path() / "p.json")["perplexity"].get<double>();
  };
  const double original = run(tiny_en());
  EXPECT_NEAR(run(q8()), original, 0.005 * original);
  EXPECT_NEAR(run(q4()), original, 0.05 * original) << "4-bit drifts more, but not far";
}

TEST_F(QuantizedModelTest, ShardsLikeAnyModel) {
  const auto single = testing::run_shardlm(
      fmt::format("generate --model {} --prompt 'In the beginning' --max-tokens 16 --json", q4().string()), false);
  ASSERT_EQ(single.exit_code, 0) << single.output;
  const auto expected = nlohmann::json::parse(single.output)["ids"];
  for (const std::string layout : {"--tp 2", "--pp 2"}) {
    const auto run = testing::run_shardlm_mpi(
        2, fmt::format("generate --model {} {} --prompt 'In the beginning' --max-tokens 16 --json", q4().string(), layout),
        false);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(nlohmann::json::parse(run.output)["ids"], expected) << layout;
  }
}

TEST_F(QuantizedModelTest, SplittingAGroupIsRefused) {
  // --tp 8 gives each rank 32 of o_proj's 256 inputs: half a group of 64.
  const auto run = testing::run_shardlm_mpi(
      8, fmt::format("generate --model {} --tp 8 --prompt-ids 1,2 --max-tokens 1", q4().string()), true, 120);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.output, HasSubstr("must fall on group boundaries"));
}

TEST_F(QuantizedModelTest, RefusesBadParametersAndQuantizedInput) {
  testing::TempDir out;
  EXPECT_THROW(quantize_model(tiny_en(), out.path() / "x", {7, 64}, uniform_plan({4, 64})), std::invalid_argument);
  EXPECT_THROW(quantize_model(q4(), out.path() / "y", {4, 64}, uniform_plan({4, 64})), std::runtime_error);
  const auto cli = testing::run_shardlm(
      fmt::format("quantize --model {} --out {} --bits 7", tiny_en().string(), (out.path() / "z").string()));
  EXPECT_NE(cli.exit_code, 0);
  EXPECT_THAT(cli.output, HasSubstr("bits"));
}

}  // namespace
}  // namespace shardlm
