#pragma once

#include <cstddef>
#include <filesystem>

namespace shardlm {

// A read-only memory mapping of a whole file. Weights are used straight from the mapping, so a rank's
// resident memory holds only the pages it actually touches.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Copies bytes [offset, offset + size) of the file into `destination` without touching the
  // mapping, so the pages read this way never count towards this process's resident memory.
  void read_at(std::size_t offset, std::size_t size, void* destination) const;

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
};

}  // namespace shardlm
