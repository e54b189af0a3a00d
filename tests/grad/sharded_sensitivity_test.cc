// The estimate split over pipeline stages and data-parallel replicas under mpirun gives what one
// rank computes alone; layouts it cannot run and bad calibration data fail cleanly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "golden/fixture.h"
#include "runtime/io/json_file.h"
#include "runtime/temp_dir.h"
#include "support/run_command.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path tiny_en() { return testing::fixtures_dir().parent_path().parent_path() / "models" / "tiny-en"; }

// One thread per rank everywhere: OpenBLAS sums in an order that depends on its thread count, and the
// comparison is meant to see the split, not that.
std::string probe_arguments(const fs::path& out, const std::string& extra) {
  return "--model " + tiny_en().string() + " --data " + (tiny_en() / "heldout.txt").string() +
         " --seq-len 64 --num-samples 4 --threads 1 --low-bits 3 --high-bits 4 --out " + out.string() + " " + extra;
}

testing::CommandResult run_probe(int ranks, const fs::path& out, const std::string& extra) {
  const std::string arguments = probe_arguments(out, extra);
  if (ranks == 0) return testing::run_command(std::string(SENSITIVITY_PROBE) + " " + arguments, true, 120);
  return testing::run_command("env SHARDLM_BIN=" + std::string(SENSITIVITY_PROBE) + " " + SHARDLM_RUN_SCRIPT +
                                  " -np " + std::to_string(ranks) + " " + arguments,
                              true, 120);
}

class ShardedSensitivityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const auto result = run_probe(0, dir_->path() / "single.json", "");
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  static void TearDownTestSuite() { delete dir_; }

  static void expect_same_as_single(int ranks, const std::string& layout) {
    const fs::path out = dir_->path() / ("ranks" + std::to_string(ranks) + ".json");
    const auto result = run_probe(ranks, out, layout);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const nlohmann::json single = read_json_file(dir_->path() / "single.json");
    const nlohmann::json sharded = read_json_file(out);
    ASSERT_EQ(sharded.size(), single.size());
    EXPECT_EQ(single.size(), 57u);  // the embedding and 7 projections x 8 layers
    for (const auto& [module, value] : single.items()) {
      SCOPED_TRACE(module);
      ASSERT_TRUE(sharded.contains(module));
      const double expected = value.get<double>();
      EXPECT_NEAR(sharded[module].get<double>(), expected, 1e-5 * std::abs(expected));
    }
  }

  static testing::TempDir* dir_;
};

testing::TempDir* ShardedSensitivityTest::dir_ = nullptr;

TEST_F(ShardedSensitivityTest, TwoPipelineStagesMatchOneRank) { expect_same_as_single(2, "--pp 2"); }

TEST_F(ShardedSensitivityTest, TwoStagesTimesTwoReplicasMatchOneRank) {
  expect_same_as_single(4, "--pp 2 --replicas 2");
}

TEST_F(ShardedSensitivityTest, TensorParallelismIsRefused) {
  const auto result = run_probe(2, dir_->path() / "tp.json", "--tp 2");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.output, HasSubstr("sensitivity estimation splits the model by --pp and --replicas only"));
}

TEST_F(ShardedSensitivityTest, MissingCalibrationFileFailsEveryRank) {
  const std::string missing = "--data " + (dir_->path() / "missing.txt").string();
  for (const int ranks : {0, 2}) {
    const auto result = testing::run_command(
        (ranks == 0 ? std::string(SENSITIVITY_PROBE)
                    : "env SHARDLM_BIN=" + std::string(SENSITIVITY_PROBE) + " " + SHARDLM_RUN_SCRIPT + " -np 2") +
            " --model " + tiny_en().string() + " " + missing + " --pp " + (ranks == 0 ? "1" : "2") + " --out " +
            (dir_->path() / "none.json").string(),
        true, 60);
    EXPECT_NE(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("missing.txt"));
  }
}

}  // namespace
}  // namespace shardlm
