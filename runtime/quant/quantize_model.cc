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
  const QuantizationLayout layout = plan_quantization(folder, plan);
  fs::create_directories(out);

  SafetensorsWriter writer;
  nlohmann::json quantization = {{"group_size", defaults.group_size}, {"bits", defaults.bits}};
  for (const PlannedTensor& tensor : layout.tensors) {
    const TensorEntry& entry = *tensor.source;
    if (tensor.spec) {
      quantize_tensor(writer, tensor.module, entry, *tensor.spec);
      if (tensor.spec->bits != defaults.bits || tensor.spec->group_size != defaults.group_size) {
        quantization[tensor.module] = {{"group_size", tensor.spec->group_size}, {"bits", tensor.spec->bits}};
      }
      continue;
    }
    if (!tensor.module.empty()) quantization[tensor.module] = false;
    writer.add(tensor.name, entry.type, entry.shape, std::vector<std::byte>(entry.data, entry.data + entry.nbytes));
  }
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
  return layout.summary;
}

}  // namespace shardlm
