#include "runtime/io/json_file.h"

#include <fstream>
#include <stdexcept>

namespace shardlm {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream stream(path);
  if (!stream) throw std::runtime_error(path.string() + ": cannot open");
  try {
    return nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(path.string() + ": invalid JSON: " + error.what());
  }
}

std::optional<nlohmann::json> read_optional_json_file(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  return read_json_file(path);
}

}  // namespace shardlm
