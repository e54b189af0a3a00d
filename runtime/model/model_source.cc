#include "runtime/model/model_source.h"

#include <fmt/format.h>

namespace shardlm {

ModelSource ModelSource::folder(const std::filesystem::path& dir) {
  ModelSource source;
  // The folder first: it names what is missing (the folder itself, config.json, a weight file).
  source.folder_ = std::make_unique<ModelFolder>(dir);
  source.config_ = load_model_config(dir);
  return source;
}

ModelSource ModelSource::random(ModelConfig config, const RandomWeightFormat& format, std::uint64_t seed) {
  check_random_weight_format(config, format);
  // Recorded as a quantized folder's config.json would record it, for whoever reads the config.
  if (format.quantized()) config.quantization = {QuantSpec{format.bits, format.group_size}, {}};
  ModelSource source;
  source.config_ = std::move(config);
  source.random_format_ = format;
  source.seed_ = seed;
  return source;
}

std::string ModelSource::description() const {
  if (folder_) return folder_->dir().string();
  return fmt::format("random {}", weight_format_name(*random_format_));
}

ModelWeights ModelSource::weights(const ModelSlice& slice, ThreadPool& pool) const {
  if (folder_) return load_model_weights(*folder_, config_, slice);
  return random_model_weights(config_, slice, *random_format_, seed_, pool);
}

}  // namespace shardlm
