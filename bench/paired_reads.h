#pragma once

// On a machine whose memory bandwidth drifts from one second to the next (a virtual machine beside
// busy neighbours), a rate measured now and a probe measured a minute ago do not describe the same
// machine. So the micro-benchmarks take a pass of the probe's plain read right before each timed pass
// and set the two against each other; the medians of those fractions, over all passes and over the
// passes whose plain read was among the slower or the faster half, tell how the code fares in each
// kind of minute.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <stdexcept>
#include <vector>

#include "bench/median.h"
#include "runtime/system/memory_bandwidth.h"

namespace shardlm::bench {

// GB/s of one probe pass over `words`: the faster of the probe's two ways of reading, one pass each.
inline double plain_read_gbs(std::span<const std::uint64_t> words, std::size_t threads) {
  return probe_read_bandwidth(words, threads, 2) / 1e9;
}

struct PairedFractions {
  double all = 0, slower = 0, faster = 0;
};

// The medians of rates[i] / plain[i]: over all i, over the i whose plain[i] is among the lower half
// of plain, and over the rest (the middle one of an odd count goes to the faster half).
inline PairedFractions paired_fractions(const std::vector<double>& rates, const std::vector<double>& plain) {
  if (rates.size() != plain.size() || rates.empty()) {
    throw std::invalid_argument("paired_fractions: needs one plain read per rate");
  }
  std::vector<std::size_t> order(plain.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return plain[a] < plain[b]; });
  std::vector<double> all, slower, faster;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const double fraction = rates[order[i]] / plain[order[i]];
    all.push_back(fraction);
    (2 * i + 1 < order.size() ? slower : faster).push_back(fraction);
  }
  return {median(all), median(slower), median(faster)};
}

}  // namespace shardlm::bench
