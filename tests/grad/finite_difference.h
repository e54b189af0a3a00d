#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace shardlm::testing {

// The gradient of f at x by central differences, element by element (double precision: the
// truncation error is O(step^2) and rounding about 1e-16 / step).
inline std::vector<double> numeric_gradient(const std::function<double(const std::vector<double>&)>& f,
                                            std::vector<double> x, double step = 1e-5) {
  std::vector<double> gradient(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + step;
    const double up = f(x);
    x[i] = saved - step;
    const double down = f(x);
    x[i] = saved;
    gradient[i] = (up - down) / (2 * step);
  }
  return gradient;
}

// max |a - b| / max |b|: how far a gradient is from its reference, relative to the reference's size.
inline double relative_max_error(const std::vector<double>& a, const std::vector<double>& b) {
  double error = 0.0;
  double scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    error = std::max(error, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return scale > 0 ? error / scale : error;
}

inline std::vector<double> random_values(std::size_t n, std::mt19937& rng, double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> values(n);
  for (auto& v : values) v = normal(rng);
  return values;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace shardlm::testing
