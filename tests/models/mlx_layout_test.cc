// A quantized folder laid out the way mlx_lm.convert writes one, built here from random codes with a
// bit packer of its own (not shardlm's): it must load and compute what its dequantized weights compute.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "golden/fixture.h"
#include "runtime/io/json_file.h"
#include "runtime/io/model_folder.h"
#include "runtime/io/safetensors_writer.h"
#include "runtime/temp_dir.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;

struct Format {
  int bits;
  int group_size;
};

// MLX's layout: code i of a row sits in bits [i * bits, (i + 1) * bits) of the row's stream, stream bit
// k being bit k % 32 of little-endian word k / 32.
std::vector<std::uint32_t> pack_row(const std::vector<std::uint32_t>& codes, int bits) {
  std::vector<std::uint32_t> words(codes.size() * static_cast<std::size_t>(bits) / 32, 0);
  for (std::size_t i = 0; i < codes.size(); ++i) {
    for (int b = 0; b < bits; ++b) {
      const std::size_t k = i * static_cast<std::size_t>(bits) + static_cast<std::size_t>(b);
      words[k / 32] |= ((codes[i] >> b) & 1u) << (k % 32);
    }
  }
  return words;
}

template <typename T>
std::vector<std::byte> bytes_of(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// Module of a weight tensor name ("model.layers.0.mlp.down_proj.weight" -> "...down_proj").
std::string module_of(const std::string& name) { return name.substr(0, name.size() - 7); }

class MlxLayoutTest : public ::testing::Test {
 protected:
  // Default 4 bits in groups of 64; down_proj (160 inputs, no whole groups of 64) overridden to 8 bits in
  // groups of 32, as a mixed-precision mlx-lm model records it.
  static Format format_of(const std::string& module) {
    return module.ends_with("down_proj") ? Format{8, 32} : Format{4, 64};
  }

  void SetUp() override {
    const fs::path source = testing::fixtures_dir() / "llama_f32";
    const ModelFolder folder(source);
    SafetensorsWriter quantized, dequantized;
    std::mt19937 random(2026);
    std::uniform_real_distribution<float> scale(0.002f, 0.02f), bias(-0.1f, 0.1f);
    for (const auto& [name, entry] : folder.tensors()) {
      const bool linear = name.ends_with(".weight") && entry->shape.size() == 2;
      if (!linear) {
        const std::vector<std::byte> data(entry->data, entry->data + entry->nbytes);
        quantized.add(name, entry->type, entry->shape, data);
        dequantized.add(name, entry->type, entry->shape, data);
        continue;
      }
      const Format format = format_of(module_of(name));
      const auto rows = static_cast<std::size_t>(entry->shape[0]);
      const auto cols = static_cast<std::size_t>(entry->shape[1]);
      const std::size_t groups = cols / static_cast<std::size_t>(format.group_size);
      std::uniform_int_distribution<std::uint32_t> code(0, (1u << format.bits) - 1);
      std::vector<std::uint32_t> packed;
      std::vector<float> scales(rows * groups), biases(rows * groups), weights(rows * cols);
      for (std::size_t r = 0; r < rows; ++r) {
        std::vector<std::uint32_t> codes(cols);
        for (std::size_t g = 0; g < groups; ++g) {
          scales[r * groups + g] = scale(random);
          biases[r * groups + g] = bias(random);
        }
        for (std::size_t c = 0; c < cols; ++c) {
          codes[c] = code(random);
          const std::size_t g = c / static_cast<std::size_t>(format.group_size);
          weights[r * cols + c] = scales[r * groups + g] * static_cast<float>(codes[c]) + biases[r * groups + g];
        }
        const auto words = pack_row(codes, format.bits);
        packed.insert(packed.end(), words.begin(), words.end());
      }
      const std::string module = module_of(name);
      const auto words_per_row = static_cast<std::int64_t>(cols) * format.bits / 32;
      const std::vector<std::int64_t> group_shape{entry->shape[0], static_cast<std::int64_t>(groups)};
      quantized.add(name, StorageType::U32, {entry->shape[0], words_per_row}, bytes_of(packed));
      quantized.add(module + ".scales", StorageType::F32, group_shape, bytes_of(scales));
      quantized.add(module + ".biases", StorageType::F32, group_shape, bytes_of(biases));
      dequantized.add(name, StorageType::F32, entry->shape, bytes_of(weights));
    }

    nlohmann::json config = read_json_file(source / "config.json");
    const nlohmann::json plain = config;
    nlohmann::json quantization = {{"group_size", 64}, {"bits", 4}};
    for (int layer = 0; layer < config["num_hidden_layers"].get<int>(); ++layer) {
      quantization[fmt::format("model.layers.{}.mlp.down_proj", layer)] = {{"group_size", 32}, {"bits", 8}};
    }
    config["quantization"] = quantization;
    config["quantization_config"] = quantization;
    write(quantized, config, source, dir_.path() / "mlx");
    write(dequantized, plain, source, dir_.path() / "dequantized");
  }

  static void write(const SafetensorsWriter& writer, const nlohmann::json& config, const fs::path& source,
                    const fs::path& out) {
    fs::create_directories(out);
    writer.write(out / "model.safetensors");
    std::ofstream(out / "config.json") << config.dump(2);
    fs::copy_file(source / "tokenizer.model", out / "tokenizer.model");
  }

  testing::TempDir dir_;
};

TEST_F(MlxLayoutTest, LoadsAndComputesWhatItsDequantizedWeightsCompute) {
  const testing::GoldenFixture fixture = testing::load_golden_fixture("llama_f32");
  // A short prompt runs the decode kernels (16-bit activations: 1e-4 of the logits' scale holds), the
  // whole 40-token one the prefill kernels, whose 8-bit activations (within 1/254 of each group's
  // largest) move logits by well under 1%.
  for (const auto& [length, tolerance] : {std::pair{std::size_t{12}, 1e-4}, std::pair{fixture.prompt_ids.size(), 1e-2}}) {
    const std::vector<std::int32_t> prompt(fixture.prompt_ids.begin(), fixture.prompt_ids.begin() + length);
    const auto got = testing::prompt_logits(dir_.path() / "mlx", prompt);
    const auto want = testing::prompt_logits(dir_.path() / "dequantized", prompt);
    ASSERT_EQ(got.size(), want.size());
    double scale = 0.0, error = 0.0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      scale = std::max(scale, std::abs(static_cast<double>(want[i])));
      error = std::max(error, std::abs(static_cast<double>(got[i]) - want[i]));
    }
    EXPECT_LE(error, tolerance * scale) << length << " tokens";
  }
}

}  // namespace
}  // namespace shardlm
