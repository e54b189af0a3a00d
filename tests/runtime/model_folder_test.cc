#include "runtime/io/model_folder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "golden/fixture.h"
#include "runtime/engine/local_model.h"
#include "runtime/io/json_file.h"
#include "runtime/temp_dir.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::TempDir;

// A writable copy of a golden fixture folder.
fs::path copy_fixture(const TempDir& dir, const std::string& name) {
  const fs::path target = dir.path() / name;
  fs::copy(testing::fixtures_dir() / name, target, fs::copy_options::recursive);
  return target;
}

void edit_json(const fs::path& path, const std::function<void(nlohmann::json&)>& edit) {
  auto json = read_json_file(path);
  edit(json);
  std::ofstream(path) << json.dump(2);
}

std::string load_error(const fs::path& model_dir) {
  ThreadPool pool(1);
  try {
    LocalModel model(model_dir, pool);
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

TEST(ModelFolderTest, FindsTensorsAcrossShards) {
  const ModelFolder folder(testing::fixtures_dir() / "qwen3_bf16");
  EXPECT_GT(folder.weight_file_count(), 1u);
  EXPECT_EQ(folder.tensors().size(), 47u);
  EXPECT_EQ(folder.tensor("model.layers.3.self_attn.q_norm.weight").shape, (std::vector<std::int64_t>{16}));
}

TEST(ModelFolderTest, MissingTensorIsNamed) {
  const ModelFolder folder(testing::fixtures_dir() / "llama_f32");
  try {
    folder.tensor("lm_head.weight");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("missing tensor 'lm_head.weight'"));
  }
}

TEST(ModelFolderTest, RejectsFolderWithoutConfig) {
  TempDir dir;
  dir.write("model.safetensors", "");
  EXPECT_THAT(load_error(dir.path()), HasSubstr("has no config.json"));
}

TEST(ModelFolderTest, RejectsMissingFolder) {
  EXPECT_THAT(load_error("/nonexistent/model"), HasSubstr("does not exist"));
}

TEST(ModelFolderTest, RejectsFolderWithoutWeights) {
  TempDir dir;
  const fs::path model = copy_fixture(dir, "llama_f32");
  fs::remove(model / "model.safetensors");
  EXPECT_THAT(load_error(model), HasSubstr("has no weights"));
}

TEST(ModelFolderTest, RejectsIndexNamingMissingShard) {
  TempDir dir;
  const fs::path model = copy_fixture(dir, "llama_bf16");
  const auto index = read_json_file(model / "model.safetensors.index.json");
  const std::string shard = index["weight_map"]["model.norm.weight"].get<std::string>();
  fs::remove(model / shard);
  EXPECT_THAT(load_error(model), AllOf(HasSubstr(shard), HasSubstr("does not exist")));
}

TEST(ModelFolderTest, RejectsIndexPlacingTensorInWrongShard) {
  TempDir dir;
  const fs::path model = copy_fixture(dir, "llama_bf16");
  edit_json(model / "model.safetensors.index.json", [](nlohmann::json& index) {
    index["weight_map"]["model.layers.9.mlp.up_proj.weight"] = index["weight_map"]["model.norm.weight"];
  });
  EXPECT_THAT(load_error(model), HasSubstr("'model.layers.9.mlp.up_proj.weight'"));
}

TEST(ModelFolderTest, ShapeMismatchNamesTensorAndShapes) {
  TempDir dir;
  const fs::path model = copy_fixture(dir, "qwen3_f32");
  edit_json(model / "config.json", [](nlohmann::json& config) { config["intermediate_size"] = 128; });
  EXPECT_THAT(load_error(model),
              AllOf(HasSubstr("'model.layers.0.mlp.gate_proj.weight'"), HasSubstr("[160, 64]"), HasSubstr("[128, 64]")));
}

TEST(ModelFolderTest, MoreLayersThanWeightsNamesFirstMissingTensor) {
  TempDir dir;
  const fs::path model = copy_fixture(dir, "mistral_f32");
  edit_json(model / "config.json", [](nlohmann::json& config) { config["num_hidden_layers"] = 5; });
  EXPECT_THAT(load_error(model), HasSubstr("missing tensor 'model.layers.4.input_layernorm.weight'"));
}

TEST(ModelFolderTest, TruncatedWeightFileIsRefused) {
  TempDir dir;
  const fs::path model = copy_fixture(dir, "llama_f32");
  fs::resize_file(model / "model.safetensors", fs::file_size(model / "model.safetensors") - 100);
  EXPECT_THAT(load_error(model), AllOf(HasSubstr("model.safetensors"), HasSubstr("truncated")));
}

TEST(ModelFolderTest, UnsupportedArchitectureIsNamed) {
  TempDir dir;
  const fs::path model = copy_fixture(dir, "llama_f32");
  edit_json(model / "config.json", [](nlohmann::json& config) { config["architectures"] = {"GPT2LMHeadModel"}; });
  EXPECT_THAT(load_error(model), AllOf(HasSubstr("GPT2LMHeadModel"), HasSubstr("LlamaForCausalLM")));
}

}  // namespace
}  // namespace shardlm
