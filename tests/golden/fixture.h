#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace shardlm::testing {

// A model folder under tests/fixtures with what transformers computed for it (make_fixtures.py).
struct GoldenFixture {
  std::string name;
  std::filesystem::path dir;
  std::vector<std::int32_t> prompt_ids;
  std::vector<std::int32_t> greedy_ids;
  std::vector<float> logits;  // [prompt][vocab]
  double logits_std = 0.0;
  std::size_t vocab = 0;
};

std::filesystem::path fixtures_dir();
std::vector<std::string> golden_fixture_names();
GoldenFixture load_golden_fixture(const std::string& name);
std::string join_ids(const std::vector<std::int32_t>& ids);

// The logits of every position of `prompt`, computed by one rank holding the whole model.
std::vector<float> prompt_logits(const std::filesystem::path& model_dir, const std::vector<std::int32_t>& prompt);

}  // namespace shardlm::testing
