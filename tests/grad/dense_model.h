#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/grad/dense_weights.h"
#include "runtime/io/model_folder.h"
#include "runtime/model/model_config.h"
#include "runtime/model/model_weights.h"

namespace shardlm::testing {

// A model folder's stored weights, whole, kept open for building dense copies of them.
struct StoredModel {
  explicit StoredModel(const std::filesystem::path& dir)
      : folder(dir), config(load_model_config(dir)), slice(ModelSlice::whole(config)),
        weights(load_model_weights(folder, config, slice)) {}

  template <typename T>
  grad::DenseWeights<T> dense(const grad::WeightSource& source = grad::widened_weight) const {
    return grad::make_dense_weights<T>(config, slice, weights, source);
  }

  ModelFolder folder;
  ModelConfig config;
  ModelSlice slice;
  ModelWeights weights;
};

// Every weight matrix of dense weights that the gradient pass reports, by module path.
template <typename T>
std::vector<grad::DenseLinear<T>*> dense_modules(grad::DenseWeights<T>& weights) {
  std::vector<grad::DenseLinear<T>*> modules;
  if (!weights.embedding.weight.values.empty()) modules.push_back(&weights.embedding);
  for (auto& layer : weights.layers) {
    for (auto* linear : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down}) {
      modules.push_back(linear);
    }
  }
  if (!weights.lm_head.weight.values.empty()) modules.push_back(&weights.lm_head);
  return modules;
}

}  // namespace shardlm::testing
