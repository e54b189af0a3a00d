#pragma once

#include <cstdio>
#include <exception>

namespace shardlm::bench {

// What a benchmark tool's main returns: run()'s result, or 1 after printing "<tool>: error: ..." for
// an exception that escapes it (a bad config, a shape the kernels refuse).
template <typename Run>
int run_tool(const char* tool, Run&& run) {
  try {
    return run();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: error: %s\n", tool, error.what());
    return 1;
  }
}

}  // namespace shardlm::bench
