// The benchmarks' shared statistics: the median, and rates set against the plain read before each.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "bench/median.h"
#include "bench/paired_reads.h"

namespace shardlm::bench {
namespace {

TEST(Median, OddEvenAndEmpty) {
  EXPECT_DOUBLE_EQ(median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_DOUBLE_EQ(median({4.0, 1.0, 3.0, 2.0}), 2.5);
  EXPECT_DOUBLE_EQ(median({7.0}), 7.0);
  EXPECT_DOUBLE_EQ(median({}), 0.0);
}

TEST(PairedFractions, SplitsByThePlainReadNotByTheRate) {
  // Plain reads alternate between a slow and a fast machine; the rate is 90% of the read before it
  // when slow and 60% when fast, so sorting by the rates themselves would mix the two kinds.
  const std::vector<double> plain{30, 60, 32, 58, 31, 62};
  const std::vector<double> rates{27, 36, 28.8, 34.8, 27.9, 37.2};
  const PairedFractions f = paired_fractions(rates, plain);
  EXPECT_NEAR(f.slower, 0.9, 1e-12);
  EXPECT_NEAR(f.faster, 0.6, 1e-12);
  EXPECT_NEAR(f.all, 0.75, 1e-12);  // the mean of the middle two of 0.6 x 3, 0.9 x 3
}

TEST(PairedFractions, OddCountPutsTheMiddleReadInTheFasterHalf) {
  const std::vector<double> plain{10, 20, 30};
  const std::vector<double> rates{5, 16, 27};  // fractions 0.5, 0.8, 0.9
  const PairedFractions f = paired_fractions(rates, plain);
  EXPECT_NEAR(f.slower, 0.5, 1e-12);
  EXPECT_NEAR(f.faster, 0.85, 1e-12);
  EXPECT_NEAR(f.all, 0.8, 1e-12);
}

TEST(PairedFractions, RefusesUnpairedInput) {
  EXPECT_THROW(paired_fractions({1.0, 2.0}, {1.0}), std::invalid_argument);
  EXPECT_THROW(paired_fractions({}, {}), std::invalid_argument);
}

}  // namespace
}  // namespace shardlm::bench
