#include "runtime/system/memory_usage.h"

#include <fstream>
#include <string>

namespace shardlm {

namespace {

std::size_t status_field_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}

}  // namespace

std::size_t peak_rss_bytes() { return status_field_bytes("VmHWM"); }
std::size_t current_rss_bytes() { return status_field_bytes("VmRSS"); }

bool reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

}  // namespace shardlm
