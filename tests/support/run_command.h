#pragma once

#include <string>

namespace shardlm::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;
  double seconds = 0.0;
};

// Runs a shell command, capturing stdout (and stderr, when merge_stderr), killing it after
// timeout_seconds so that a hang fails the test instead of stalling the suite.
CommandResult run_command(const std::string& command, bool merge_stderr = true, int timeout_seconds = 300);

// `shardlm ARGS` with the freshly built binary.
CommandResult run_shardlm(const std::string& arguments, bool merge_stderr = true);

// `launch/shardlm-run -np RANKS ARGS`: an MPI job of the freshly built binary on this machine.
CommandResult run_shardlm_mpi(int ranks, const std::string& arguments, bool merge_stderr = true,
                              int timeout_seconds = 300);

}  // namespace shardlm::testing
