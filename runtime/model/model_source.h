#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "runtime/io/model_folder.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_slice.h"
#include "runtime/model/model_weights.h"
#include "runtime/model/random_weights.h"

namespace shardlm {

class ThreadPool;

// Where a model's config and weights come from: the files of a Hugging Face folder, or random weights
// of a config's shape (to benchmark shapes no file is at hand for). Either gives the weights of any
// slice, so one rank or a sharded job runs on both alike.
class ModelSource {
 public:
  // Reads config.json and maps the folder's weight files.
  static ModelSource folder(const std::filesystem::path& dir);
  // A model shaped like `config` with random weights in `format` (see random_model_weights).
  static ModelSource random(ModelConfig config, const RandomWeightFormat& format, std::uint64_t seed);

  const ModelConfig& config() const { return config_; }
  // The mapped folder, or null for random weights.
  const ModelFolder* model_folder() const { return folder_.get(); }
  // The format of random weights, or nothing for a folder.
  const std::optional<RandomWeightFormat>& random_format() const { return random_format_; }
  // The folder's path, or "random <format>" for random weights.
  std::string description() const;

  // The slice's weights: views of the folder's mappings (so the source must outlive them), or random
  // weights generated for the slice alone on the pool's threads.
  ModelWeights weights(const ModelSlice& slice, ThreadPool& pool) const;

 private:
  ModelConfig config_;
  std::unique_ptr<ModelFolder> folder_;
  std::optional<RandomWeightFormat> random_format_;
  std::uint64_t seed_ = 0;
};

}  // namespace shardlm
