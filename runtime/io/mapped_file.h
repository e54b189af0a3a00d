#pragma once

#include <cstddef>
#include <filesystem>

namespace shardlm {

// A read-only mapping of part of a file, unmapped on destruction.
class MappedRegion {
 public:
  MappedRegion() = default;
  MappedRegion(void* mapping, std::size_t mapping_size, std::size_t lead);
  ~MappedRegion();
  MappedRegion(MappedRegion&& other) noexcept;
  MappedRegion& operator=(MappedRegion&& other) noexcept;

  const std::byte* data() const { return static_cast<const std::byte*>(mapping_) + lead_; }

 private:
  void* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  std::size_t lead_ = 0;  // bytes between the page-aligned mapping start and the requested offset
};

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

  // A separate mapping of bytes [offset, offset + size). The kernel maps page-cache pages (which may
  // be large folios) only within a mapping's bounds, so a rank that maps just its slice of a matrix
  // this way never has its neighbours' rows resident.
  MappedRegion map_region(std::size_t offset, std::size_t size) const;

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
};

}  // namespace shardlm
