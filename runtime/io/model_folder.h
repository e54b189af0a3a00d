#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/io/safetensors.h"

namespace shardlm {

// A Hugging Face model folder: config.json plus weights in model.safetensors, or sharded over
// model-0000N-of-0000M.safetensors files listed in model.safetensors.index.json. Every weight file
// is mapped once; tensors are looked up by name across all of them.
class ModelFolder {
 public:
  explicit ModelFolder(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path file(const std::string& name) const { return dir_ / name; }

  const TensorEntry* find_tensor(const std::string& name) const;
  // Throws, naming the tensor and the folder, when the model has no such tensor.
  const TensorEntry& tensor(const std::string& name) const;
  const std::map<std::string, const TensorEntry*>& tensors() const { return tensors_; }
  std::size_t weight_file_count() const { return files_.size(); }

 private:
  void open_indexed(const std::filesystem::path& index_path);
  void open_single(const std::filesystem::path& path);

  std::filesystem::path dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorEntry*> tensors_;
};

}  // namespace shardlm
