#include "runtime/model/model_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "runtime/io/json_file.h"

namespace shardlm {

namespace {

using nlohmann::json;

// How a family decides which layers use sliding-window attention when config.json has no
// explicit `layer_types`.
enum class WindowRule { None, AllLayers, FromMaxWindowLayers };

// The few ways the supported families differ; everything else is shared.
struct Family {
  const char* architecture;
  bool qkv_bias_always;  // Qwen2 has q/k/v bias whatever `attention_bias` says
  bool o_bias_follows_attention_bias;
  bool qk_norm;
  WindowRule window_rule;
};

constexpr Family kFamilies[] = {
    {"LlamaForCausalLM", false, true, false, WindowRule::None},
    {"MistralForCausalLM", false, true, false, WindowRule::AllLayers},
    {"Qwen2ForCausalLM", true, false, false, WindowRule::FromMaxWindowLayers},
    {"Qwen3ForCausalLM", false, true, true, WindowRule::FromMaxWindowLayers},
};

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("config.json: " + what); }

std::int64_t required_int(const json& config, const char* key) {
  if (!config.contains(key) || !config[key].is_number_integer()) fail(fmt::format("missing integer '{}'", key));
  const auto value = config[key].get<std::int64_t>();
  if (value <= 0) fail(fmt::format("'{}' must be positive, got {}", key, value));
  return value;
}

std::int64_t optional_int(const json& config, const char* key, std::int64_t fallback) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  if (!config[key].is_number_integer()) fail(fmt::format("'{}' must be an integer", key));
  return config[key].get<std::int64_t>();
}

double optional_number(const json& config, const char* key, double fallback) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  if (!config[key].is_number()) fail(fmt::format("'{}' must be a number", key));
  return config[key].get<double>();
}

bool optional_bool(const json& config, const char* key, bool fallback) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  if (!config[key].is_boolean()) fail(fmt::format("'{}' must be true or false", key));
  return config[key].get<bool>();
}

std::vector<std::int64_t> token_ids(const json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) return {};
  const auto& value = config[key];
  if (value.is_number_integer()) return {value.get<std::int64_t>()};
  if (value.is_array()) {
    std::vector<std::int64_t> ids;
    for (const auto& id : value) {
      if (!id.is_number_integer()) fail(fmt::format("'{}' must hold integers", key));
      ids.push_back(id.get<std::int64_t>());
    }
    return ids;
  }
  fail(fmt::format("'{}' must be an integer or a list of integers", key));
}

const Family& find_family(const json& config) {
  if (!config.contains("architectures") || !config["architectures"].is_array() || config["architectures"].empty()) {
    fail("missing 'architectures'");
  }
  const auto name = config["architectures"][0].get<std::string>();
  for (const auto& family : kFamilies) {
    if (name == family.architecture) return family;
  }
  fail(fmt::format("unsupported architecture '{}' (supported: {})", name, fmt::join(supported_architectures(), ", ")));
}

RopeConfig parse_rope(const json& config) {
  // Newer configs put everything in `rope_parameters`; older ones use `rope_theta` plus an optional
  // `rope_scaling` object whose type key is `rope_type` or, older still, `type`.
  const json* scaling = nullptr;
  RopeConfig rope;
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    scaling = &config["rope_parameters"];
    rope.theta = optional_number(*scaling, "rope_theta", optional_number(config, "rope_theta", rope.theta));
  } else {
    rope.theta = optional_number(config, "rope_theta", rope.theta);
    if (config.contains("rope_scaling") && config["rope_scaling"].is_object()) scaling = &config["rope_scaling"];
  }
  if (scaling == nullptr) return rope;

  std::string type = "default";
  if (scaling->contains("rope_type") && (*scaling)["rope_type"].is_string()) {
    type = (*scaling)["rope_type"].get<std::string>();
  } else if (scaling->contains("type") && (*scaling)["type"].is_string()) {
    type = (*scaling)["type"].get<std::string>();
  }
  if (type == "default") return rope;
  if (type == "linear") {
    rope.type = RopeConfig::Type::Linear;
    rope.factor = optional_number(*scaling, "factor", 1.0);
  } else if (type == "llama3") {
    rope.type = RopeConfig::Type::Llama3;
    rope.factor = optional_number(*scaling, "factor", 8.0);
    rope.low_freq_factor = optional_number(*scaling, "low_freq_factor", 1.0);
    rope.high_freq_factor = optional_number(*scaling, "high_freq_factor", 4.0);
    rope.original_max_positions = optional_int(*scaling, "original_max_position_embeddings", 8192);
    if (rope.high_freq_factor <= rope.low_freq_factor) fail("llama3 rope needs high_freq_factor > low_freq_factor");
  } else {
    fail(fmt::format("unsupported rope type '{}' (supported: default, linear, llama3)", type));
  }
  if (rope.factor <= 0) fail("rope scaling factor must be positive");
  return rope;
}

std::vector<std::int64_t> parse_sliding_window(const json& config, const Family& family, std::int64_t num_layers) {
  std::vector<std::int64_t> windows(static_cast<std::size_t>(num_layers), 0);
  const std::int64_t window = optional_int(config, "sliding_window", 0);
  if (config.contains("layer_types") && config["layer_types"].is_array()) {
    const auto& types = config["layer_types"];
    if (static_cast<std::int64_t>(types.size()) != num_layers) {
      fail(fmt::format("'layer_types' has {} entries for {} layers", types.size(), num_layers));
    }
    for (std::size_t i = 0; i < types.size(); ++i) {
      const auto type = types[i].get<std::string>();
      if (type == "sliding_attention") {
        if (window <= 0) fail("'layer_types' asks for sliding attention but 'sliding_window' is not set");
        windows[i] = window;
      } else if (type != "full_attention") {
        fail(fmt::format("unsupported layer type '{}'", type));
      }
    }
    return windows;
  }
  switch (family.window_rule) {
    case WindowRule::None: break;
    case WindowRule::AllLayers:
      for (auto& w : windows) w = window;
      break;
    case WindowRule::FromMaxWindowLayers:
      if (optional_bool(config, "use_sliding_window", false) && window > 0) {
        const std::int64_t first = optional_int(config, "max_window_layers", num_layers);
        for (std::int64_t i = first; i < num_layers; ++i) windows[static_cast<std::size_t>(i)] = window;
      }
      break;
  }
  return windows;
}

QuantSpec parse_quant_spec(const json& entry, const std::string& where) {
  if (!entry.is_object() || !entry.contains("group_size") || !entry.contains("bits") ||
      !entry["group_size"].is_number_integer() || !entry["bits"].is_number_integer()) {
    fail(fmt::format("quantization entry '{}' needs integer \"group_size\" and \"bits\"", where));
  }
  const QuantSpec spec{entry["bits"].get<int>(), entry["group_size"].get<int>()};
  try {
    validate_quant_spec(spec);
  } catch (const std::invalid_argument& error) {
    fail(fmt::format("quantization entry '{}': {}", where, error.what()));
  }
  return spec;
}

QuantizationConfig parse_quantization(const json& config) {
  QuantizationConfig quantization;
  if (!config.contains("quantization") || config["quantization"].is_null()) return quantization;
  const json& entry = config["quantization"];
  if (!entry.is_object()) fail("'quantization' must be an object");
  quantization.defaults = parse_quant_spec(entry, "quantization");
  for (const auto& [key, value] : entry.items()) {
    if (key == "group_size" || key == "bits" || key == "mode") continue;
    if (value.is_boolean() && !value.get<bool>()) {
      quantization.overrides[key] = std::nullopt;
    } else if (value.is_object()) {
      quantization.overrides[key] = parse_quant_spec(value, key);
    }
  }
  if (entry.contains("mode") && entry["mode"].is_string() && entry["mode"].get<std::string>() != "affine") {
    fail(fmt::format("unsupported quantization mode '{}' (supported: affine)", entry["mode"].get<std::string>()));
  }
  return quantization;
}

}  // namespace

std::optional<QuantSpec> QuantizationConfig::for_module(const std::string& module) const {
  const auto it = overrides.find(module);
  if (it != overrides.end()) return it->second;
  return defaults;
}

std::vector<std::string> supported_architectures() {
  std::vector<std::string> names;
  for (const auto& family : kFamilies) names.emplace_back(family.architecture);
  return names;
}

ModelConfig parse_model_config(const json& config) {
  if (!config.is_object()) fail("not a JSON object");
  const Family& family = find_family(config);
  ModelConfig out;
  out.architecture = family.architecture;
  out.vocab_size = required_int(config, "vocab_size");
  out.hidden_size = required_int(config, "hidden_size");
  out.intermediate_size = required_int(config, "intermediate_size");
  out.num_layers = required_int(config, "num_hidden_layers");
  out.num_heads = required_int(config, "num_attention_heads");
  out.num_kv_heads = optional_int(config, "num_key_value_heads", out.num_heads);
  if (out.num_kv_heads <= 0 || out.num_heads % out.num_kv_heads != 0) {
    fail(fmt::format("num_attention_heads {} is not a multiple of num_key_value_heads {}", out.num_heads,
                     out.num_kv_heads));
  }
  out.head_dim = optional_int(config, "head_dim", 0);
  if (out.head_dim == 0) {
    if (out.hidden_size % out.num_heads != 0) fail("hidden_size is not a multiple of num_attention_heads");
    out.head_dim = out.hidden_size / out.num_heads;
  }
  if (out.head_dim % 2 != 0) fail(fmt::format("head_dim {} must be even for rotary embeddings", out.head_dim));
  out.max_position_embeddings = optional_int(config, "max_position_embeddings", 4096);
  out.rms_norm_eps = optional_number(config, "rms_norm_eps", 1e-6);
  out.rope = parse_rope(config);
  out.tie_word_embeddings = optional_bool(config, "tie_word_embeddings", false);

  const bool attention_bias = optional_bool(config, "attention_bias", false);
  out.qkv_bias = family.qkv_bias_always || attention_bias;
  out.o_bias = family.o_bias_follows_attention_bias && attention_bias;
  out.mlp_bias = optional_bool(config, "mlp_bias", false);
  out.qk_norm = family.qk_norm;

  const std::string activation = config.value("hidden_act", std::string("silu"));
  if (activation != "silu") fail(fmt::format("unsupported hidden_act '{}' (supported: silu)", activation));

  out.sliding_window = parse_sliding_window(config, family, out.num_layers);
  out.quantization = parse_quantization(config);
  out.bos_token_ids = token_ids(config, "bos_token_id");
  out.eos_token_ids = token_ids(config, "eos_token_id");
  return out;
}

ModelConfig load_model_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  try {
    return parse_model_config(read_json_file(path));
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(fmt::format("{}: {}", model_dir.string(), error.what()));
  }
}

}  // namespace shardlm
