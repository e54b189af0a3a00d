#include "runtime/io/model_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "runtime/io/json_file.h"

namespace shardlm {

namespace fs = std::filesystem;

ModelFolder::ModelFolder(const fs::path& dir) : dir_(dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(fmt::format("model folder '{}' does not exist", dir.string()));
  if (!fs::exists(dir / "config.json")) {
    throw std::runtime_error(fmt::format("model folder '{}' has no config.json", dir.string()));
  }
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    open_indexed(index);
    return;
  }
  if (fs::exists(dir / "model.safetensors")) {
    open_single(dir / "model.safetensors");
    return;
  }
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".safetensors") found.push_back(entry.path());
  }
  if (found.empty()) {
    throw std::runtime_error(fmt::format(
        "model folder '{}' has no weights: expected model.safetensors or model.safetensors.index.json", dir.string()));
  }
  std::sort(found.begin(), found.end());
  for (const auto& path : found) open_single(path);
}

void ModelFolder::open_single(const fs::path& path) {
  files_.push_back(std::make_unique<SafetensorsFile>(path));
  for (const auto& [name, entry] : files_.back()->tensors()) {
    if (!tensors_.emplace(name, &entry).second) {
      throw std::runtime_error(fmt::format("{}: tensor '{}' also appears in another weight file", path.string(), name));
    }
  }
}

void ModelFolder::open_indexed(const fs::path& index_path) {
  const auto index = read_json_file(index_path);
  if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw std::runtime_error(fmt::format("{}: missing 'weight_map' object", index_path.string()));
  }
  std::map<std::string, const SafetensorsFile*> opened;
  for (const auto& [name, file_name] : index["weight_map"].items()) {
    if (!file_name.is_string()) {
      throw std::runtime_error(fmt::format("{}: weight_map entry '{}' is not a file name", index_path.string(), name));
    }
    const auto shard_name = file_name.get<std::string>();
    auto it = opened.find(shard_name);
    if (it == opened.end()) {
      const fs::path shard_path = dir_ / shard_name;
      if (!fs::exists(shard_path)) {
        throw std::runtime_error(fmt::format("{}: tensor '{}' is in '{}', which does not exist", index_path.string(),
                                             name, shard_path.string()));
      }
      files_.push_back(std::make_unique<SafetensorsFile>(shard_path));
      it = opened.emplace(shard_name, files_.back().get()).first;
    }
    const TensorEntry* entry = it->second->find(name);
    if (entry == nullptr) {
      throw std::runtime_error(fmt::format("{}: the index places tensor '{}' in this file, but it is not there",
                                           it->second->path().string(), name));
    }
    tensors_.emplace(name, entry);
  }
}

const TensorEntry* ModelFolder::find_tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second;
}

const TensorEntry& ModelFolder::tensor(const std::string& name) const {
  const TensorEntry* entry = find_tensor(name);
  if (entry == nullptr) {
    throw std::runtime_error(fmt::format("model '{}' is missing tensor '{}'", dir_.string(), name));
  }
  return *entry;
}

}  // namespace shardlm
