// Saved sensitivities: what is written reads back, and a file that cannot be used for the requested
// quantization of this model is refused with the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/quant/sensitivity_file.h"
#include "runtime/temp_dir.h"

namespace shardlm {
namespace {

using ::testing::HasSubstr;

const SensitivitySettings kSettings{{4, 64}, {5, 64}};
const std::set<std::string> kModules = {"model.embed_tokens", "model.layers.0.self_attn.q_proj",
                                        "model.layers.0.mlp.down_proj"};
const std::set<std::string> kCandidates = {"model.embed_tokens", "model.layers.0.self_attn.q_proj"};

const char* kGood = R"({
  "model": "models/x",
  "settings": {"low": {"bits": 4, "group_size": 64}, "high": {"bits": 5, "group_size": 64}},
  "calibration": {"data": "train.txt", "seq_len": 512},
  "sensitivities": {"model.embed_tokens": 0.25, "model.layers.0.self_attn.q_proj": -1e-3}
})";

std::string refusal(const std::string& text, const SensitivitySettings& settings = kSettings) {
  testing::TempDir tmp;
  const auto path = tmp.write("s.json", text);
  try {
    sensitivities_for_model(read_sensitivity_file(path), path, settings, kCandidates, kModules);
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr(path.string())) << "the error names the file";
    return error.what();
  }
  return "accepted";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

TEST(SensitivityFile, ReadsWhatItWrites) {
  testing::TempDir tmp;
  SensitivityFile file;
  file.model = "models/tiny-en";
  file.settings = {{3, 32}, {6, 128}};
  file.calibration = {{"data", "train.txt"}, {"seq_len", 256}};
  file.sensitivities = {{"model.embed_tokens", 0.1 + 1e-12}, {"lm_head", -3.5e-7}};
  write_sensitivity_file(tmp.path() / "s.json", file);
  const SensitivityFile back = read_sensitivity_file(tmp.path() / "s.json");
  EXPECT_EQ(back.model, file.model);
  EXPECT_EQ(back.settings.low.bits, 3);
  EXPECT_EQ(back.settings.low.group_size, 32);
  EXPECT_EQ(back.settings.high.bits, 6);
  EXPECT_EQ(back.settings.high.group_size, 128);
  EXPECT_EQ(back.calibration, file.calibration);
  EXPECT_EQ(back.sensitivities, file.sensitivities) << "numbers round-trip exactly";
}

TEST(SensitivityFile, AcceptsAFileForThisModel) {
  EXPECT_EQ(refusal(kGood), "accepted");
  testing::TempDir tmp;
  const auto path = tmp.write("s.json", kGood);
  const Sensitivities chosen =
      sensitivities_for_model(read_sensitivity_file(path), path, kSettings, kCandidates, kModules);
  EXPECT_EQ(chosen.at("model.embed_tokens"), 0.25);
  EXPECT_EQ(chosen.at("model.layers.0.self_attn.q_proj"), -1e-3);
}

TEST(SensitivityFile, RefusesAMissingModule) {
  EXPECT_THAT(refusal(replaced(kGood, R"("model.embed_tokens": 0.25, )", "")),
              HasSubstr("no sensitivity for module 'model.embed_tokens'"));
}

TEST(SensitivityFile, RefusesAModuleOfAnotherModel) {
  EXPECT_THAT(refusal(replaced(kGood, "model.embed_tokens", "model.layers.40.mlp.up_proj")),
              HasSubstr("'model.layers.40.mlp.up_proj' is not a quantizable module of this model"));
}

TEST(SensitivityFile, RefusesNumbersThatAreNotFinite) {
  // Python's json.dump writes NaN; nlohmann::json writes a NaN as null; 1e999 overflows.
  EXPECT_THAT(refusal(replaced(kGood, "0.25", "NaN")), HasSubstr("finite"));
  EXPECT_THAT(refusal(replaced(kGood, "0.25", "null")), HasSubstr("'model.embed_tokens' is null, not a finite"));
  EXPECT_THAT(refusal(replaced(kGood, "0.25", "1e999")), HasSubstr("finite"));
  EXPECT_THAT(refusal(replaced(kGood, "0.25", "\"high\"")), HasSubstr("not a finite number"));
}

TEST(SensitivityFile, RefusesOtherSettings) {
  EXPECT_THAT(refusal(kGood, {{4, 64}, {6, 64}}),
              HasSubstr("estimated from 4-bit in groups of 64 to 5-bit in groups of 64, but this quantization is "
                        "from 4-bit in groups of 64 to 6-bit in groups of 64"));
  EXPECT_THAT(refusal(kGood, {{4, 32}, {5, 64}}), HasSubstr("estimated from 4-bit in groups of 64"));
}

TEST(SensitivityFile, RefusesAMalformedFile) {
  EXPECT_THAT(refusal(replaced(kGood, "\"settings\"", "\"setting\"")), HasSubstr("has no \"settings\""));
  EXPECT_THAT(refusal(replaced(kGood, "\"bits\": 5", "\"bits\": \"5\"")), HasSubstr("integer"));
  EXPECT_THAT(refusal(R"({"model": "x", "settings": {}, "calibration": {}, "sensitivities": {}})"),
              HasSubstr("\"settings\" has no \"low\""));
  EXPECT_THAT(refusal("[1, 2"), HasSubstr("invalid JSON"));
  EXPECT_THROW(read_sensitivity_file("/nonexistent/s.json"), std::invalid_argument);
}

}  // namespace
}  // namespace shardlm
