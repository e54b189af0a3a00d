#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "runtime/quant/sensitivity.h"

namespace shardlm {

// Sensitivities saved as JSON, so that a mixed-precision quantization can be redone at another
// target without estimating them again:
//   {"model": "models/tiny-en",
//    "settings": {"low": {"bits": 4, "group_size": 64}, "high": {"bits": 5, "group_size": 64}},
//    "calibration": {"data": "train.txt", "seq_len": 512, "num_samples": 256, "seed": 123},
//    "sensitivities": {"model.embed_tokens": 0.0123, "model.layers.0.self_attn.q_proj": 0.0004, ...}}
// "model" and "calibration" describe how they were made; "settings" must match the quantization
// they are used for, since a sensitivity measures the step from that low to that high quantization.
struct SensitivityFile {
  std::string model;
  SensitivitySettings settings;
  nlohmann::json calibration = nlohmann::json::object();
  Sensitivities sensitivities;
};

void write_sensitivity_file(const std::filesystem::path& path, const SensitivityFile& file);

// Reads a file written by write_sensitivity_file. Throws std::invalid_argument naming the file and
// the problem when a part is missing or malformed or a sensitivity is not a finite number.
SensitivityFile read_sensitivity_file(const std::filesystem::path& path);

// The sensitivities of `candidates` (the modules that may get high bits) from a file read for a
// model whose quantizable modules are `model_modules`. Throws std::invalid_argument naming the file
// and the problem when its settings differ from `settings`, a candidate is missing, or a module is
// not one of the model's (sensitivities of another model).
Sensitivities sensitivities_for_model(const SensitivityFile& file, const std::filesystem::path& path,
                                      const SensitivitySettings& settings, const std::set<std::string>& candidates,
                                      const std::set<std::string>& model_modules);

}  // namespace shardlm
