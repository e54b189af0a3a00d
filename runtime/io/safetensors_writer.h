#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "runtime/io/safetensors.h"

namespace shardlm {

// Collects tensors and writes them as one .safetensors file: the header lists tensors in name order
// with data offsets packed back to back, as the format's reference writer does.
class SafetensorsWriter {
 public:
  void add(const std::string& name, StorageType type, std::vector<std::int64_t> shape, std::vector<std::byte> data);
  void add_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void write(const std::filesystem::path& path) const;
  std::size_t total_bytes() const;

 private:
  struct Pending {
    StorageType type;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> data;
  };
  std::map<std::string, Pending> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace shardlm
