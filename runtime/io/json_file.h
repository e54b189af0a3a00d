#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

namespace shardlm {

// Parses a JSON file, naming the file in any error.
nlohmann::json read_json_file(const std::filesystem::path& path);

// The same for files a model folder may or may not have (tokenizer_config.json, ...).
std::optional<nlohmann::json> read_optional_json_file(const std::filesystem::path& path);

}  // namespace shardlm
