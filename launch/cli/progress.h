#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace shardlm::cli {

// A progress report on stderr: a bar redrawn in place on a terminal, plain lines at every tenth
// otherwise (logs, CI), so that long evaluations show they are moving.
class Progress {
 public:
  Progress(std::string what, std::size_t total, std::size_t units_per_item);
  void update(std::size_t done);
  void finish();

 private:
  std::string what_;
  std::size_t total_;
  std::size_t units_per_item_;
  bool terminal_;
  std::size_t last_tenth_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace shardlm::cli
