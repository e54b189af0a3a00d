#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runtime/io/mapped_file.h"
#include "runtime/tensor/dtype.h"

namespace shardlm {

// Element types a safetensors file may declare. Float weights map onto DType; the integer types
// are kept so that packed (quantized) weights and index tensors can be read as raw storage.
enum class StorageType : std::uint8_t { F64, F32, F16, BF16, I64, I32, U32, I16, U16, I8, U8, BOOL };

std::size_t storage_type_size(StorageType type);
std::string storage_type_name(StorageType type);
std::optional<DType> float_dtype(StorageType type);

struct TensorEntry {
  std::string name;
  StorageType type;
  std::vector<std::int64_t> shape;
  const std::byte* data = nullptr;  // inside the file's mapping
  std::size_t nbytes = 0;
  const MappedFile* file = nullptr;

  std::size_t file_offset() const { return static_cast<std::size_t>(data - file->data()); }

  std::int64_t numel() const;
};

// One .safetensors file: an 8-byte little-endian header length, a JSON header describing every
// tensor (dtype, shape, byte offsets relative to the data section), then the data section.
// The file is mapped, the header validated once, and tensor data is never copied.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  const TensorEntry* find(const std::string& name) const;
  const std::map<std::string, TensorEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  MappedFile file_;
  std::map<std::string, TensorEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace shardlm
