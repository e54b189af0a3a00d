#include "runtime/model/random_weights.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "runtime/quant/affine.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {

namespace {

// A counter-based generator: any element can be drawn without drawing the ones before it, which is
// what lets each rank generate its own block of a matrix and agree with every other layout.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uint64_t name_key(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return mix(h ^ mix(seed));
}

// Uniform in [-1, 1).
float uniform(std::uint64_t key, std::uint64_t index) {
  return static_cast<float>(static_cast<double>(mix(key + index) >> 40) / static_cast<double>(1ull << 23)) - 1.0f;
}

void store(DType dtype, float value, std::byte* out) {
  switch (dtype) {
    case DType::F32: std::memcpy(out, &value, 4); break;
    case DType::F16: {
      const std::uint16_t half = f32_to_f16(value);
      std::memcpy(out, &half, 2);
      break;
    }
    case DType::BF16: {
      const std::uint16_t half = f32_to_bf16(value);
      std::memcpy(out, &half, 2);
      break;
    }
  }
}

class RandomWeightMaker {
 public:
  RandomWeightMaker(const RandomWeightFormat& format, std::uint64_t seed, ThreadPool& pool, ModelWeights& weights)
      : format_(format), seed_(seed), pool_(pool), weights_(weights) {}

  // Rows `rows` and columns `cols` of the [total_rows][total_cols] matrix `name`.
  WeightMatrix matrix(const std::string& name, std::int64_t total_cols, IndexRange rows, IndexRange cols) {
    return format_.quantized() ? quantized(name, total_cols, rows, cols) : dense(name, total_cols, rows, cols);
  }

  std::vector<float> bias(const std::string& name, IndexRange part) const {
    const std::uint64_t key = name_key(seed_, name);
    std::vector<float> values(static_cast<std::size_t>(part.size()));
    for (std::size_t i = 0; i < values.size(); ++i) {
      values[i] = 0.02f * uniform(key, static_cast<std::uint64_t>(part.begin) + i);
    }
    return values;
  }

 private:
  WeightMatrix dense(const std::string& name, std::int64_t total_cols, IndexRange rows, IndexRange cols) {
    const std::uint64_t key = name_key(seed_, name);
    const float amplitude = std::sqrt(3.0f / static_cast<float>(total_cols));
    const std::size_t element = dtype_size(format_.dtype);
    const auto n_rows = static_cast<std::size_t>(rows.size());
    const auto n_cols = static_cast<std::size_t>(cols.size());
    std::byte* data = weights_.owned.emplace_back(n_rows * n_cols * element).data();
    pool_.parallel_for(n_rows, [&](std::size_t begin, std::size_t end) {
      for (std::size_t r = begin; r < end; ++r) {
        const auto first = static_cast<std::uint64_t>(rows.begin + static_cast<std::int64_t>(r)) *
                               static_cast<std::uint64_t>(total_cols) + static_cast<std::uint64_t>(cols.begin);
        for (std::size_t c = 0; c < n_cols; ++c) {
          store(format_.dtype, amplitude * uniform(key, first + c), data + (r * n_cols + c) * element);
        }
      }
    });
    WeightMatrix m;
    m.dtype = format_.dtype;
    m.data = data;
    m.rows = n_rows;
    m.cols = n_cols;
    m.row_stride = n_cols;
    return m;
  }

  // Random codes (every bit pattern is a valid code) with scales that give the same spread as the
  // dense weights and biases that centre each group on zero.
  WeightMatrix quantized(const std::string& name, std::int64_t total_cols, IndexRange rows, IndexRange cols) {
    if (cols.begin % format_.group_size != 0 || cols.size() % format_.group_size != 0) {
      throw std::invalid_argument(fmt::format(
          "'{}' is quantized in groups of {} inputs, but this layout gives a rank inputs [{}, {}): a tensor-parallel "
          "split of the input dimension must fall on group boundaries",
          name, format_.group_size, cols.begin, cols.end));
    }
    const std::uint64_t code_key = name_key(seed_, name);
    const std::uint64_t scale_key = name_key(seed_, name + ".scales");
    const int bits = format_.bits;
    const auto group = static_cast<std::int64_t>(format_.group_size);
    const auto n_rows = static_cast<std::size_t>(rows.size());
    const auto words = static_cast<std::size_t>(cols.size() * bits / 32);
    const auto total_words = static_cast<std::uint64_t>(total_cols * bits / 32);
    const auto first_word = static_cast<std::uint64_t>(cols.begin * bits / 32);
    const auto groups = static_cast<std::size_t>(cols.size() / group);
    const auto total_groups = static_cast<std::uint64_t>(total_cols / group);
    const auto first_group = static_cast<std::uint64_t>(cols.begin / group);
    const std::size_t element = dtype_size(format_.dtype);
    const float levels = static_cast<float>((1 << bits) - 1);
    const float base_scale = 2.0f * std::sqrt(3.0f / static_cast<float>(total_cols)) / levels;

    // Pointers, not references to the vectors: a later emplace_back may move the vectors (though
    // never their buffers).
    std::byte* codes = weights_.owned.emplace_back(n_rows * words * sizeof(std::uint32_t)).data();
    std::byte* scales = weights_.owned.emplace_back(n_rows * groups * element).data();
    std::byte* biases = weights_.owned.emplace_back(n_rows * groups * element).data();
    pool_.parallel_for(n_rows, [&](std::size_t begin, std::size_t end) {
      for (std::size_t r = begin; r < end; ++r) {
        const auto row = static_cast<std::uint64_t>(rows.begin + static_cast<std::int64_t>(r));
        for (std::size_t w = 0; w < words; ++w) {
          const auto word = static_cast<std::uint32_t>(mix(code_key + row * total_words + first_word + w));
          std::memcpy(codes + (r * words + w) * sizeof word, &word, sizeof word);
        }
        for (std::size_t g = 0; g < groups; ++g) {
          const float scale = base_scale * (1.0f + 0.25f * uniform(scale_key, row * total_groups + first_group + g));
          store(format_.dtype, scale, scales + (r * groups + g) * element);
          store(format_.dtype, -0.5f * levels * scale, biases + (r * groups + g) * element);
        }
      }
    });
    WeightMatrix m;
    m.dtype = format_.dtype;
    m.data = codes;
    m.rows = n_rows;
    m.cols = static_cast<std::size_t>(cols.size());
    m.row_stride = words;
    m.quant = {bits, format_.group_size, scales, biases, groups};
    check_weight_matrix(m);
    return m;
  }

  const RandomWeightFormat& format_;
  std::uint64_t seed_;
  ThreadPool& pool_;
  ModelWeights& weights_;
};

IndexRange scaled(IndexRange range, std::int64_t factor) { return {range.begin * factor, range.end * factor}; }

}  // namespace

std::size_t RandomWeightFormat::matrix_bytes(std::int64_t rows, std::int64_t cols) const {
  const auto element = static_cast<std::int64_t>(dtype_size(dtype));
  if (!quantized()) return static_cast<std::size_t>(rows * cols * element);
  return static_cast<std::size_t>(rows * (cols * bits / 8 + 2 * (cols / group_size) * element));
}

RandomWeightFormat parse_weight_format(const std::string& name) {
  if (name == "f32") return {DType::F32, 0, 64};
  if (name == "bf16") return {DType::BF16, 0, 64};
  if (name == "q8") return {DType::BF16, 8, 64};
  if (name == "q4") return {DType::BF16, 4, 64};
  throw std::invalid_argument(fmt::format("unknown weight format '{}': choose f32, bf16, q8 or q4", name));
}

std::string weight_format_name(const RandomWeightFormat& format) {
  if (format.quantized()) return fmt::format("q{}", format.bits);
  return format.dtype == DType::F32 ? "f32" : std::string(dtype_name(format.dtype));
}

void check_random_weight_format(const ModelConfig& config, const RandomWeightFormat& format) {
  if (!format.quantized()) return;
  validate_quant_spec({format.bits, format.group_size});
  for (const auto& [what, inputs] : {std::pair{"hidden_size", config.hidden_size},
                                     std::pair{"intermediate_size", config.intermediate_size},
                                     std::pair{"num_attention_heads x head_dim", config.q_dim()}}) {
    if (inputs % format.group_size != 0) {
      throw std::invalid_argument(fmt::format("{} weights need inputs in whole groups of {}, but {} is {}",
                                              weight_format_name(format), format.group_size, what, inputs));
    }
  }
}

ModelWeights random_model_weights(const ModelConfig& config, const ModelSlice& slice, const RandomWeightFormat& format,
                                  std::uint64_t seed, ThreadPool& pool) {
  check_random_weight_format(config, format);
  ModelWeights weights;
  RandomWeightMaker make(format, seed, pool, weights);
  const std::int64_t hidden = config.hidden_size;
  const IndexRange all_hidden{0, hidden};
  const IndexRange q_rows = scaled(slice.q_heads, config.head_dim);
  const IndexRange kv_rows = scaled(slice.kv_heads, config.head_dim);
  const std::vector<float> ones(static_cast<std::size_t>(hidden), 1.0f);
  const auto linear = [&](const std::string& name, bool has_bias, std::int64_t in, IndexRange rows, IndexRange cols) {
    Linear l;
    l.weight = make.matrix(name, in, rows, cols);
    // As the loader does: a layer split by input columns adds its bias on the first columns' shard.
    if (has_bias && cols.begin == 0) l.bias = make.bias(name + ".bias", rows);
    return l;
  };

  const bool holds_embedding = slice.has_embedding || (slice.has_head && config.tie_word_embeddings);
  if (holds_embedding) weights.embedding = make.matrix("model.embed_tokens", hidden, slice.vocab, all_hidden);
  for (std::int64_t layer = slice.layers.begin; layer < slice.layers.end; ++layer) {
    const std::string attn = fmt::format("model.layers.{}.self_attn.", layer);
    const std::string mlp = fmt::format("model.layers.{}.mlp.", layer);
    LayerWeights w;
    w.input_norm = ones;
    w.post_attention_norm = ones;
    w.q = linear(attn + "q_proj", config.qkv_bias, hidden, q_rows, all_hidden);
    w.k = linear(attn + "k_proj", config.qkv_bias, hidden, kv_rows, all_hidden);
    w.v = linear(attn + "v_proj", config.qkv_bias, hidden, kv_rows, all_hidden);
    w.o = linear(attn + "o_proj", config.o_bias, config.q_dim(), all_hidden, q_rows);
    if (config.qk_norm) {
      w.q_norm.assign(static_cast<std::size_t>(config.head_dim), 1.0f);
      w.k_norm.assign(static_cast<std::size_t>(config.head_dim), 1.0f);
    }
    w.gate = linear(mlp + "gate_proj", config.mlp_bias, hidden, slice.ffn, all_hidden);
    w.up = linear(mlp + "up_proj", config.mlp_bias, hidden, slice.ffn, all_hidden);
    w.down = linear(mlp + "down_proj", config.mlp_bias, config.intermediate_size, all_hidden, slice.ffn);
    weights.layers.push_back(std::move(w));
  }
  if (slice.has_head) {
    weights.final_norm = ones;
    weights.lm_head = config.tie_word_embeddings ? weights.embedding
                                                 : make.matrix("lm_head", hidden, slice.vocab, all_hidden);
  }
  if (!slice.has_embedding) weights.embedding = {};
  return weights;
}

}  // namespace shardlm
