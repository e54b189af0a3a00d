#include "runtime/quant/sensitivity_file.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <stdexcept>

#include "runtime/io/json_file.h"

namespace shardlm {

namespace fs = std::filesystem;

namespace {

nlohmann::json spec_json(QuantSpec spec) { return {{"bits", spec.bits}, {"group_size", spec.group_size}}; }

std::string spec_text(QuantSpec spec) { return fmt::format("{}-bit in groups of {}", spec.bits, spec.group_size); }

[[noreturn]] void malformed(const fs::path& path, const std::string& problem) {
  throw std::invalid_argument(fmt::format("sensitivities file '{}': {}", path.string(), problem));
}

const nlohmann::json& member(const nlohmann::json& object, const char* key, const fs::path& path,
                             const std::string& where) {
  if (!object.is_object() || !object.contains(key)) malformed(path, fmt::format("{} has no \"{}\"", where, key));
  return object.at(key);
}

QuantSpec read_spec(const nlohmann::json& settings, const char* key, const fs::path& path) {
  const nlohmann::json& spec = member(settings, key, path, "\"settings\"");
  const std::string where = fmt::format("\"settings\".\"{}\"", key);
  const nlohmann::json& bits = member(spec, "bits", path, where);
  const nlohmann::json& group_size = member(spec, "group_size", path, where);
  if (!bits.is_number_integer() || !group_size.is_number_integer()) {
    malformed(path, fmt::format("{} must hold integer \"bits\" and \"group_size\"", where));
  }
  return {bits.get<int>(), group_size.get<int>()};
}

}  // namespace

void write_sensitivity_file(const fs::path& path, const SensitivityFile& file) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [module, value] : file.sensitivities) values[module] = value;
  const nlohmann::json out = {
      {"model", file.model},
      {"settings", {{"low", spec_json(file.settings.low)}, {"high", spec_json(file.settings.high)}}},
      {"calibration", file.calibration},
      {"sensitivities", values},
  };
  std::ofstream stream(path);
  stream << out.dump(2) << "\n";
  if (!stream) throw std::runtime_error(fmt::format("cannot write the sensitivities to '{}'", path.string()));
}

SensitivityFile read_sensitivity_file(const fs::path& path) {
  if (!fs::exists(path)) malformed(path, "no such file");
  nlohmann::json json;
  try {
    json = read_json_file(path);
  } catch (const std::runtime_error& error) {
    // Python's json.dump writes NaN and Infinity, which are not JSON.
    throw std::invalid_argument(fmt::format("{} (a sensitivity must be a finite number)", error.what()));
  }
  SensitivityFile file;
  const nlohmann::json& model = member(json, "model", path, "the file");
  if (!model.is_string()) malformed(path, "\"model\" must be a string");
  file.model = model.get<std::string>();
  const nlohmann::json& settings = member(json, "settings", path, "the file");
  file.settings = {read_spec(settings, "low", path), read_spec(settings, "high", path)};
  file.calibration = member(json, "calibration", path, "the file");
  const nlohmann::json& values = member(json, "sensitivities", path, "the file");
  if (!values.is_object() || values.empty()) malformed(path, "\"sensitivities\" must map module names to numbers");
  for (const auto& [module, value] : values.items()) {
    if (!value.is_number() || !std::isfinite(value.get<double>())) {
      malformed(path, fmt::format("the sensitivity of '{}' is {}, not a finite number", module, value.dump()));
    }
    file.sensitivities[module] = value.get<double>();
  }
  return file;
}

Sensitivities sensitivities_for_model(const SensitivityFile& file, const fs::path& path,
                                      const SensitivitySettings& settings, const std::set<std::string>& candidates,
                                      const std::set<std::string>& model_modules) {
  const auto same = [](QuantSpec a, QuantSpec b) { return a.bits == b.bits && a.group_size == b.group_size; };
  if (!same(file.settings.low, settings.low) || !same(file.settings.high, settings.high)) {
    malformed(path, fmt::format("it was estimated from {} to {}, but this quantization is from {} to {}",
                                spec_text(file.settings.low), spec_text(file.settings.high), spec_text(settings.low),
                                spec_text(settings.high)));
  }
  for (const auto& [module, value] : file.sensitivities) {
    if (model_modules.count(module) == 0) {
      malformed(path, fmt::format("'{}' is not a quantizable module of this model (sensitivities of another model?)",
                                  module));
    }
  }
  Sensitivities chosen;
  for (const std::string& module : candidates) {
    const auto found = file.sensitivities.find(module);
    if (found == file.sensitivities.end()) malformed(path, fmt::format("no sensitivity for module '{}'", module));
    chosen[module] = found->second;
  }
  return chosen;
}

}  // namespace shardlm
