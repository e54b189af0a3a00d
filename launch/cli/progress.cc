#include "launch/cli/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace shardlm::cli {

Progress::Progress(std::string what, std::size_t total, std::size_t units_per_item)
    : what_(std::move(what)),
      total_(total),
      units_per_item_(units_per_item),
      terminal_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(std::size_t done) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done * units_per_item_) / seconds : 0.0;
  if (terminal_) {
    constexpr std::size_t kWidth = 30;
    const std::size_t filled = total_ == 0 ? kWidth : kWidth * done / total_;
    std::fprintf(stderr, "\r%s [%s%s] %zu/%zu, %.0f tokens/s", what_.c_str(), std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), done, total_, rate);
    std::fflush(stderr);
    return;
  }
  const std::size_t tenth = total_ == 0 ? 10 : 10 * done / total_;
  if (tenth > last_tenth_ || done == total_) {
    last_tenth_ = tenth;
    std::fprintf(stderr, "%s: %zu/%zu, %.0f tokens/s\n", what_.c_str(), done, total_, rate);
  }
}

void Progress::finish() {
  if (terminal_) std::fputs("\n", stderr);
}

}  // namespace shardlm::cli
