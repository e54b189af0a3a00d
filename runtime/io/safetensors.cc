#include "runtime/io/safetensors.h"

#include <fmt/format.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <utility>

namespace shardlm {

namespace {

struct StorageTypeName {
  const char* name;
  StorageType type;
  std::size_t size;
};

constexpr StorageTypeName kStorageTypes[] = {
    {"F64", StorageType::F64, 8},   {"F32", StorageType::F32, 4}, {"F16", StorageType::F16, 2},
    {"BF16", StorageType::BF16, 2}, {"I64", StorageType::I64, 8}, {"I32", StorageType::I32, 4},
    {"U32", StorageType::U32, 4},   {"I16", StorageType::I16, 2}, {"U16", StorageType::U16, 2},
    {"I8", StorageType::I8, 1},     {"U8", StorageType::U8, 1},   {"BOOL", StorageType::BOOL, 1},
};

std::optional<StorageType> parse_storage_type(const std::string& name) {
  for (const auto& entry : kStorageTypes) {
    if (name == entry.name) return entry.type;
  }
  return std::nullopt;
}

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: invalid safetensors file: {}", path.string(), what));
}

std::uint64_t read_le64(const std::byte* bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

}  // namespace

std::size_t storage_type_size(StorageType type) {
  for (const auto& entry : kStorageTypes) {
    if (entry.type == type) return entry.size;
  }
  return 0;
}

std::string storage_type_name(StorageType type) {
  for (const auto& entry : kStorageTypes) {
    if (entry.type == type) return entry.name;
  }
  return "?";
}

std::optional<DType> float_dtype(StorageType type) {
  switch (type) {
    case StorageType::F32: return DType::F32;
    case StorageType::F16: return DType::F16;
    case StorageType::BF16: return DType::BF16;
    default: return std::nullopt;
  }
}

std::int64_t TensorEntry::numel() const {
  std::int64_t count = 1;
  for (const auto dim : shape) count *= dim;
  return count;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  const std::size_t file_size = file_.size();
  if (file_size < 8) fail(path, fmt::format("file is {} bytes, too short for the header length", file_size));
  const std::uint64_t header_size = read_le64(file_.data());
  if (header_size > file_size - 8) {
    fail(path, fmt::format("header length {} exceeds the file size {} (truncated file?)", header_size, file_size));
  }
  const char* header_begin = reinterpret_cast<const char*>(file_.data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_size);
  } catch (const nlohmann::json::exception& error) {
    fail(path, fmt::format("header is not valid JSON: {}", error.what()));
  }
  if (!header.is_object()) fail(path, "header is not a JSON object");

  const std::byte* data_section = file_.data() + 8 + header_size;
  const std::size_t data_size = file_size - 8 - header_size;

  for (const auto& [name, description] : header.items()) {
    if (name == "__metadata__") {
      if (description.is_object()) {
        for (const auto& [key, value] : description.items()) {
          if (value.is_string()) metadata_[key] = value.get<std::string>();
        }
      }
      continue;
    }
    const auto describe = [&](const std::string& what) { fail(path, fmt::format("tensor '{}': {}", name, what)); };
    if (!description.is_object() || !description.contains("dtype") || !description.contains("shape") ||
        !description.contains("data_offsets")) {
      describe("entry needs dtype, shape and data_offsets");
    }
    const auto& dtype_field = description["dtype"];
    if (!dtype_field.is_string()) describe("dtype is not a string");
    const auto type = parse_storage_type(dtype_field.get<std::string>());
    if (!type) describe(fmt::format("unsupported dtype '{}'", dtype_field.get<std::string>()));

    TensorEntry entry;
    entry.name = name;
    entry.type = *type;
    entry.file = &file_;
    std::uint64_t expected_bytes = storage_type_size(*type);
    for (const auto& dim : description["shape"]) {
      if (!dim.is_number_integer() || dim.get<std::int64_t>() < 0) describe("shape has a non-integer or negative dimension");
      entry.shape.push_back(dim.get<std::int64_t>());
      const auto extent = static_cast<std::uint64_t>(entry.shape.back());
      if (extent != 0 && expected_bytes > std::numeric_limits<std::uint64_t>::max() / extent) describe("shape overflows");
      expected_bytes *= extent;
    }
    const auto& offsets = description["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
      describe("data_offsets must be two non-negative integers");
    }
    const auto begin = offsets[0].get<std::uint64_t>();
    const auto end = offsets[1].get<std::uint64_t>();
    if (begin > end || end > data_size) {
      describe(fmt::format("data_offsets [{}, {}] fall outside the {}-byte data section (truncated file?)", begin, end,
                           data_size));
    }
    if (end - begin != expected_bytes) {
      describe(fmt::format("data_offsets span {} bytes but dtype and shape need {}", end - begin, expected_bytes));
    }
    entry.data = data_section + begin;
    entry.nbytes = end - begin;
    tensors_.emplace(name, std::move(entry));
  }
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  const auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace shardlm
