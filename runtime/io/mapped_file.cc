#include "runtime/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace shardlm {

namespace {
std::runtime_error io_error(const std::filesystem::path& path, const char* what) {
  return std::runtime_error(path.string() + ": " + what + ": " + std::strerror(errno));
}
}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_error(path, "cannot open");
  fd_ = fd;
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const auto error = io_error(path, "cannot stat");
    ::close(fd);
    throw error;
  }
  size_ = static_cast<std::size_t>(info.st_size);
  if (size_ > 0) {
    void* mapping = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const auto error = io_error(path, "cannot mmap");
      ::close(fd);
      throw error;
    }
    data_ = static_cast<const std::byte*>(mapping);
  }
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
  ::close(fd_);
}

MappedRegion::MappedRegion(void* mapping, std::size_t mapping_size, std::size_t lead)
    : mapping_(mapping), mapping_size_(mapping_size), lead_(lead) {}

MappedRegion::~MappedRegion() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

MappedRegion::MappedRegion(MappedRegion&& other) noexcept
    : mapping_(std::exchange(other.mapping_, nullptr)), mapping_size_(other.mapping_size_), lead_(other.lead_) {}

MappedRegion& MappedRegion::operator=(MappedRegion&& other) noexcept {
  if (this != &other) {
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_size_ = other.mapping_size_;
    lead_ = other.lead_;
  }
  return *this;
}

MappedRegion MappedFile::map_region(std::size_t offset, std::size_t size) const {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t start = offset / page * page;
  const std::size_t length = offset + size - start;
  void* mapping = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd_, static_cast<off_t>(start));
  if (mapping == MAP_FAILED) throw io_error(path_, "cannot mmap a region");
  return MappedRegion(mapping, length, offset - start);
}

void MappedFile::read_at(std::size_t offset, std::size_t size, void* destination) const {
  auto* out = static_cast<char*>(destination);
  while (size > 0) {
    const ssize_t got = ::pread(fd_, out, size, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw io_error(path_, "cannot read");
    out += got;
    offset += static_cast<std::size_t>(got);
    size -= static_cast<std::size_t>(got);
  }
}

}  // namespace shardlm
