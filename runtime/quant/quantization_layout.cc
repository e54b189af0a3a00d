#include "runtime/quant/quantization_layout.h"

#include "runtime/io/json_file.h"

namespace shardlm {

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool unused_by_the_model(const std::string& name, bool tied_embeddings) {
  return (tied_embeddings && name == "lm_head.weight") || ends_with(name, ".rotary_emb.inv_freq");
}

}  // namespace

bool is_quantizable_module(const std::string& module) {
  if (module == "model.embed_tokens" || module == "lm_head") return true;
  for (const char* projection : {".q_proj", ".k_proj", ".v_proj", ".o_proj", ".gate_proj", ".up_proj", ".down_proj"}) {
    if (module.rfind("model.layers.", 0) == 0 && ends_with(module, projection)) return true;
  }
  return false;
}

QuantizationPlan uniform_plan(QuantSpec spec) {
  validate_quant_spec(spec);
  return [spec](const std::string&, std::int64_t, std::int64_t cols) -> std::optional<QuantSpec> {
    if (cols % spec.group_size != 0) return std::nullopt;
    return spec;
  };
}

std::size_t quantized_weight_bytes(std::int64_t rows, std::int64_t cols, QuantSpec spec, StorageType scale_type) {
  const auto r = static_cast<std::size_t>(rows);
  const auto c = static_cast<std::size_t>(cols);
  const std::size_t groups = c / static_cast<std::size_t>(spec.group_size);
  return r * packed_words(c, spec.bits) * 4 + 2 * r * groups * storage_type_size(scale_type);
}

QuantizationLayout plan_quantization(const ModelFolder& folder, const QuantizationPlan& plan) {
  const auto config = read_json_file(folder.file("config.json"));
  const bool tied = config.value("tie_word_embeddings", false);
  QuantizationLayout layout;
  QuantizationSummary& summary = layout.summary;
  for (const auto& [name, entry] : folder.tensors()) {
    if (unused_by_the_model(name, tied)) continue;
    PlannedTensor tensor{name, entry, {}, {}};
    summary.parameters += static_cast<double>(entry->numel());
    const std::string module = ends_with(name, ".weight") ? name.substr(0, name.size() - 7) : std::string();
    if (!module.empty() && entry->shape.size() == 2 && float_dtype(entry->type) && is_quantizable_module(module)) {
      tensor.module = module;
      tensor.spec = plan(module, entry->shape[0], entry->shape[1]);
    }
    if (tensor.spec) {
      validate_quant_row_length(*tensor.spec, static_cast<std::size_t>(entry->shape[1]));
      summary.weight_bytes += quantized_weight_bytes(entry->shape[0], entry->shape[1], *tensor.spec, entry->type);
      ++summary.quantized_modules;
    } else {
      summary.weight_bytes += entry->nbytes;
      if (!tensor.module.empty()) ++summary.float_modules;
    }
    layout.tensors.push_back(std::move(tensor));
  }
  summary.bits_per_weight = static_cast<double>(summary.weight_bytes) * 8.0 / summary.parameters;
  return layout;
}

}  // namespace shardlm
