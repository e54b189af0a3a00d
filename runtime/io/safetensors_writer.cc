#include "runtime/io/safetensors_writer.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace shardlm {

void SafetensorsWriter::add(const std::string& name, StorageType type, std::vector<std::int64_t> shape,
                            std::vector<std::byte> data) {
  std::size_t expected = storage_type_size(type);
  for (const auto dim : shape) expected *= static_cast<std::size_t>(dim);
  if (data.size() != expected) {
    throw std::invalid_argument(fmt::format("tensor '{}': {} bytes of data for a shape that needs {}", name,
                                            data.size(), expected));
  }
  tensors_[name] = {type, std::move(shape), std::move(data)};
}

std::size_t SafetensorsWriter::total_bytes() const {
  std::size_t total = 0;
  for (const auto& [name, tensor] : tensors_) total += tensor.data.size();
  return total;
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::size_t offset = 0;
  for (const auto& [name, tensor] : tensors_) {
    header[name] = {{"dtype", storage_type_name(tensor.type)},
                    {"shape", tensor.shape},
                    {"data_offsets", {offset, offset + tensor.data.size()}}};
    offset += tensor.data.size();
  }
  std::string header_text = header.dump();
  // Data starts 8-byte aligned, padded with spaces as the format allows.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  const std::uint64_t header_size = header_text.size();

  std::ofstream out(path, std::ios::binary);
  if (!out) throw std::runtime_error(fmt::format("cannot write '{}'", path.string()));
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((header_size >> (8 * i)) & 0xff));
  out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  for (const auto& [name, tensor] : tensors_) {
    out.write(reinterpret_cast<const char*>(tensor.data.data()), static_cast<std::streamsize>(tensor.data.size()));
  }
  if (!out) throw std::runtime_error(fmt::format("error writing '{}'", path.string()));
}

}  // namespace shardlm
