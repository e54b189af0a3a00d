#include "runtime/quant/quantize_model.h"

#include <fmt/format.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "runtime/io/json_file.h"
#include "runtime/io/model_folder.h"
#include "runtime/io/safetensors_writer.h"
#include "runtime/kernels/weight_matrix.h"

namespace shardlm {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::byte> float_bytes(const std::vector<float>& values, DType dtype) {
  std::vector<std::byte> bytes(values.size() * dtype_size(dtype));
  for (std::size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::F32: std::memcpy(bytes.data() + 4 * i, &values[i], 4); break;
      case DType::F16: {
        const std::uint16_t half = f32_to_f16(values[i]);
        std::memcpy(bytes.data() + 2 * i, &half, 2);
        break;
      }
      case DType::BF16: {
        const std::uint16_t half = f32_to_bf16(values[i]);
        std::memcpy(bytes.data() + 2 * i, &half, 2);
        break;
      }
    }
  }
  return bytes;
}

void quantize_tensor(SafetensorsWriter& writer, const std::string& module, const TensorEntry& entry, QuantSpec spec) {
  const DType dtype = *float_dtype(entry.type);
  const auto rows = static_cast<std::size_t>(entry.shape[0]);
  const auto cols = static_cast<std::size_t>(entry.shape[1]);
  WeightMatrix dense;
  dense.dtype = dtype;
  dense.data = entry.data;
  dense.rows = rows;
  dense.cols = cols;
  dense.row_stride = cols;
  const std::size_t words = packed_words(cols, spec.bits);
  const std::size_t groups = cols / static_cast<std::size_t>(spec.group_size);
  std::vector<std::byte> packed(rows * words * 4);
  std::vector<float> scales(rows * groups);
  std::vector<float> biases(rows * groups);
  std::vector<float> row(cols);
  std::vector<std::uint32_t> row_words(words);
  for (std::size_t r = 0; r < rows; ++r) {
    widen_weight_row(dense, r, row.data());
    quantize_row(row.data(), cols, spec, row_words.data(), scales.data() + r * groups, biases.data() + r * groups);
    std::memcpy(packed.data() + r * words * 4, row_words.data(), words * 4);
  }
  const auto r64 = static_cast<std::int64_t>(rows);
  writer.add(module + ".weight", StorageType::U32, {r64, static_cast<std::int64_t>(words)}, std::move(packed));
  writer.add(module + ".scales", entry.type, {r64, static_cast<std::int64_t>(groups)}, float_bytes(scales, dtype));
  writer.add(module + ".biases", entry.type, {r64, static_cast<std::int64_t>(groups)}, float_bytes(biases, dtype));
}

}  // namespace

bool is_quantizable_module(const std::string& module) {
  if (module == "model.embed_tokens" || module == "lm_head") return true;
  for (const char* projection : {".q_proj", ".k_proj", ".v_proj", ".o_proj", ".gate_proj", ".up_proj", ".down_proj"}) {
    if (module.rfind("model.layers.", 0) == 0 && ends_with(module, projection)) return true;
  }
  return false;
}

QuantizationPlan uniform_plan(QuantSpec spec) {
  validate_quant_spec(spec);
  return [spec](const std::string&, std::int64_t, std::int64_t cols) -> std::optional<QuantSpec> {
    if (cols % spec.group_size != 0) return std::nullopt;
    return spec;
  };
}

QuantizationSummary quantize_model(const fs::path& in, const fs::path& out, QuantSpec defaults,
                                   const QuantizationPlan& plan) {
  validate_quant_spec(defaults);
  if (fs::exists(out) && !fs::is_empty(out)) {
    throw std::runtime_error(fmt::format("output folder '{}' exists and is not empty", out.string()));
  }
  const ModelFolder folder(in);
  auto config = read_json_file(in / "config.json");
  if (config.contains("quantization")) {
    throw std::runtime_error(fmt::format("model '{}' is already quantized", in.string()));
  }
  fs::create_directories(out);

  QuantizationSummary summary;
  SafetensorsWriter writer;
  nlohmann::json quantization = {{"group_size", defaults.group_size}, {"bits", defaults.bits}};
  for (const auto& [name, entry] : folder.tensors()) {
    summary.parameters += static_cast<double>(entry->numel());
    const std::string module = ends_with(name, ".weight") ? name.substr(0, name.size() - 7) : std::string();
    const bool candidate = !module.empty() && entry->shape.size() == 2 && float_dtype(entry->type) &&
                           is_quantizable_module(module);
    const std::optional<QuantSpec> spec =
        candidate ? plan(module, entry->shape[0], entry->shape[1]) : std::optional<QuantSpec>();
    if (spec) {
      validate_quant_row_length(*spec, static_cast<std::size_t>(entry->shape[1]));
      quantize_tensor(writer, module, *entry, *spec);
      ++summary.quantized_modules;
      if (spec->bits != defaults.bits || spec->group_size != defaults.group_size) {
        quantization[module] = {{"group_size", spec->group_size}, {"bits", spec->bits}};
      }
      continue;
    }
    if (candidate) {
      ++summary.float_modules;
      quantization[module] = false;
    }
    writer.add(name, entry->type, entry->shape,
               std::vector<std::byte>(entry->data, entry->data + entry->nbytes));
  }
  summary.weight_bytes = writer.total_bytes();
  summary.bits_per_weight = static_cast<double>(summary.weight_bytes) * 8.0 / summary.parameters;
  writer.write(out / "model.safetensors");

  // mlx-lm records the parameters under both keys.
  config["quantization"] = quantization;
  config["quantization_config"] = quantization;
  std::ofstream(out / "config.json") << config.dump(2) << "\n";
  for (const auto& file : fs::directory_iterator(in)) {
    const std::string file_name = file.path().filename().string();
    if (file.is_regular_file() && file.path().extension() != ".safetensors" && file_name != "config.json" &&
        file_name != "model.safetensors.index.json") {
      fs::copy_file(file.path(), out / file_name);
    }
  }
  return summary;
}

}  // namespace shardlm
