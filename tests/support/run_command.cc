#include "support/run_command.h"

#include <sys/wait.h>

#include <array>
#include <chrono>
#include <cstdio>

namespace shardlm::testing {

CommandResult run_command(const std::string& command, bool merge_stderr, int timeout_seconds) {
  const std::string full = "timeout -k 5 " + std::to_string(timeout_seconds) + " " + command +
                           (merge_stderr ? " 2>&1" : " 2>/dev/null");
  CommandResult result;
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

CommandResult run_shardlm(const std::string& arguments, bool merge_stderr) {
  return run_command(std::string(SHARDLM_BINARY) + " " + arguments, merge_stderr);
}

CommandResult run_shardlm_mpi(int ranks, const std::string& arguments, bool merge_stderr, int timeout_seconds) {
  return run_command("env SHARDLM_BIN=" + std::string(SHARDLM_BINARY) + " " + std::string(SHARDLM_RUN) + " -np " +
                         std::to_string(ranks) + " " + arguments,
                     merge_stderr, timeout_seconds);
}

}  // namespace shardlm::testing
