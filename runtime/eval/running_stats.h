#pragma once

#include <cmath>
#include <cstddef>

namespace shardlm {

// Count, mean and sum of squared deviations of a stream of values (Welford), mergeable with another
// stream's (Chan et al.), so that replicas can each summarise their share exactly.
struct RunningStats {
  double count = 0.0;
  double mean = 0.0;
  double m2 = 0.0;

  void add(double value) {
    count += 1.0;
    const double delta = value - mean;
    mean += delta / count;
    m2 += delta * (value - mean);
  }

  void merge(const RunningStats& other) {
    if (other.count == 0.0) return;
    const double total = count + other.count;
    const double delta = other.mean - mean;
    mean += delta * other.count / total;
    m2 += other.m2 + delta * delta * count * other.count / total;
    count = total;
  }

  // Sample standard deviation (ddof = 1).
  double sd() const { return count > 1.0 ? std::sqrt(m2 / (count - 1.0)) : 0.0; }
  double standard_error() const { return count > 0.0 ? sd() / std::sqrt(count) : 0.0; }
};

}  // namespace shardlm
