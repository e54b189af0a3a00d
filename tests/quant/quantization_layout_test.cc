// Bits per weight as mlx-lm counts them (every byte of every tensor x 8 / the original model's
// parameters), predicted from the headers: checked against sums worked out by hand from the shapes,
// and against the folder quantize_model then writes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "runtime/io/json_file.h"
#include "runtime/io/model_folder.h"
#include "runtime/io/safetensors_writer.h"
#include "runtime/quant/mixed_precision.h"
#include "runtime/quant/quantize_model.h"
#include "runtime/temp_dir.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;

void add_tensor(SafetensorsWriter& writer, const std::string& name, StorageType type, std::vector<std::int64_t> shape) {
  std::size_t bytes = storage_type_size(type);
  for (const auto dim : shape) bytes *= static_cast<std::size_t>(dim);
  std::vector<std::byte> data(bytes);
  // Small varied values, so that every group has a range to quantize.
  for (std::size_t i = 0; i < bytes; i += 2) data[i] = static_cast<std::byte>(0x3c + i % 3);
  writer.add(name, type, std::move(shape), std::move(data));
}

// A folder with one of each case: a quantizable bf16 embedding (tied, so the file's lm_head.weight
// is never read), a bf16 projection of 64 inputs, an f32 projection of 96 inputs (whole groups of 32
// only), an f32 norm and a rotary buffer mlx-lm drops.
fs::path write_folder(const fs::path& dir) {
  fs::create_directories(dir);
  SafetensorsWriter writer;
  add_tensor(writer, "model.embed_tokens.weight", StorageType::BF16, {128, 64});
  add_tensor(writer, "lm_head.weight", StorageType::BF16, {128, 64});
  add_tensor(writer, "model.layers.0.self_attn.q_proj.weight", StorageType::BF16, {64, 64});
  add_tensor(writer, "model.layers.0.self_attn.rotary_emb.inv_freq", StorageType::F32, {4});
  add_tensor(writer, "model.layers.0.mlp.down_proj.weight", StorageType::F32, {64, 96});
  add_tensor(writer, "model.layers.0.input_layernorm.weight", StorageType::F32, {64});
  writer.write(dir / "model.safetensors");
  std::ofstream(dir / "config.json") << R"({"tie_word_embeddings": true, "model_type": "llama"})";
  return dir;
}

// Original parameters: the embedding (once), q_proj, down_proj and the norm.
constexpr double kParameters = 128 * 64 + 64 * 64 + 64 * 96 + 64;

std::size_t written_bytes(const fs::path& dir) {
  const ModelFolder folder(dir);
  std::size_t total = 0;
  for (const auto& [name, entry] : folder.tensors()) total += entry->nbytes;
  return total;
}

TEST(QuantizationLayout, FourBitGroupsOf64ByHand) {
  testing::TempDir tmp;
  const ModelFolder folder(write_folder(tmp.path() / "model"));
  const QuantizationSummary summary = plan_quantization(folder, uniform_plan({4, 64})).summary;
  // embedding: 128 x 64 codes of 4 bits, one bf16 scale and bias per row; q_proj likewise for 64
  // rows; down_proj (96 inputs) and the norm stay f32.
  const std::size_t embedding = 128 * 64 / 2 + 128 * 1 * 2 * 2;
  const std::size_t q_proj = 64 * 64 / 2 + 64 * 1 * 2 * 2;
  const std::size_t down_proj = 64 * 96 * 4;
  const std::size_t norm = 64 * 4;
  EXPECT_EQ(summary.weight_bytes, embedding + q_proj + down_proj + norm);
  EXPECT_EQ(summary.parameters, kParameters);
  EXPECT_DOUBLE_EQ(summary.bits_per_weight, (embedding + q_proj + down_proj + norm) * 8.0 / kParameters);
  EXPECT_EQ(summary.quantized_modules, 2u);
  EXPECT_EQ(summary.float_modules, 1u);
}

TEST(QuantizationLayout, UnquantizedModelIsItsOwnSize) {
  testing::TempDir tmp;
  const ModelFolder folder(write_folder(tmp.path() / "model"));
  const auto none = [](const std::string&, std::int64_t, std::int64_t) { return std::optional<QuantSpec>(); };
  const QuantizationSummary summary = plan_quantization(folder, none).summary;
  EXPECT_EQ(summary.weight_bytes, (128 * 64 + 64 * 64) * 2 + (64 * 96 + 64) * 4);
}

TEST(QuantizationLayout, MixedPlanByHand) {
  testing::TempDir tmp;
  const ModelFolder folder(write_folder(tmp.path() / "model"));
  // 3-bit groups of 32 low, 8-bit groups of 32 high; down_proj (96 inputs) is whole groups of both.
  const SensitivitySettings settings{{3, 32}, {8, 32}};
  const auto summary =
      plan_quantization(folder, mixed_plan(settings, {"model.layers.0.mlp.down_proj"})).summary;
  const std::size_t embedding = 128 * 64 * 3 / 8 + 128 * 2 * 2 * 2;
  const std::size_t q_proj = 64 * 64 * 3 / 8 + 64 * 2 * 2 * 2;
  const std::size_t down_proj = 64 * 96 + 64 * 3 * 2 * 4;  // 8-bit codes, f32 scales and biases
  EXPECT_EQ(summary.weight_bytes, embedding + q_proj + down_proj + 64 * 4);
  EXPECT_EQ(summary.quantized_modules, 3u);
}

TEST(QuantizationLayout, WrittenFolderMatchesThePrediction) {
  testing::TempDir tmp;
  const fs::path in = write_folder(tmp.path() / "model");
  const SensitivitySettings settings{{4, 64}, {8, 64}};
  const QuantizationPlan plan = mixed_plan(settings, {"model.embed_tokens"});
  const QuantizationSummary predicted = plan_quantization(ModelFolder(in), plan).summary;
  const QuantizationSummary written = quantize_model(in, tmp.path() / "out", settings.low, plan);
  EXPECT_EQ(written.weight_bytes, predicted.weight_bytes);
  EXPECT_EQ(written_bytes(tmp.path() / "out"), predicted.weight_bytes);
  EXPECT_DOUBLE_EQ(written.bits_per_weight, written_bytes(tmp.path() / "out") * 8.0 / kParameters);

  const ModelFolder out(tmp.path() / "out");
  EXPECT_EQ(out.find_tensor("lm_head.weight"), nullptr) << "a tied model's LM head is the embedding";
  EXPECT_EQ(out.find_tensor("model.layers.0.self_attn.rotary_emb.inv_freq"), nullptr);
  const auto quantization = read_json_file(tmp.path() / "out" / "config.json")["quantization"];
  EXPECT_EQ(quantization["bits"], 4);
  EXPECT_EQ(quantization["model.embed_tokens"], nlohmann::json({{"bits", 8}, {"group_size", 64}}));
  EXPECT_EQ(quantization["model.layers.0.mlp.down_proj"], false);
  EXPECT_FALSE(quantization.contains("model.layers.0.self_attn.q_proj")) << "at the default parameters";
}

}  // namespace
}  // namespace shardlm
