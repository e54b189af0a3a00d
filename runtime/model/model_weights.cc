#include "runtime/model/model_weights.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace shardlm {

namespace {

class WeightReader {
 public:
  WeightReader(const ModelFolder& folder, const ModelConfig& config, ModelWeights& weights)
      : folder_(folder), config_(config), weights_(weights) {}

  const TensorEntry& tensor(const std::string& name, std::vector<std::int64_t> shape, bool float_data = true) const {
    const TensorEntry& entry = folder_.tensor(name);
    if (float_data && !float_dtype(entry.type)) {
      throw std::runtime_error(fmt::format("model '{}': tensor '{}' has dtype {}, expected F32, F16 or BF16",
                                           folder_.dir().string(), name, storage_type_name(entry.type)));
    }
    if (!float_data && entry.type != StorageType::U32) {
      throw std::runtime_error(fmt::format("model '{}': quantized tensor '{}' has dtype {}, expected U32",
                                           folder_.dir().string(), name, storage_type_name(entry.type)));
    }
    if (entry.shape != shape) {
      throw std::runtime_error(fmt::format("model '{}': tensor '{}' has shape [{}], expected [{}] from config.json",
                                           folder_.dir().string(), name, fmt::join(entry.shape, ", "),
                                           fmt::join(shape, ", ")));
    }
    return entry;
  }

  // Rows [rows.begin, rows.end) and columns [cols.begin, cols.end) of the weight of a linear module
  // (or embedding), dense or quantized as the files say.
  WeightMatrix matrix(const std::string& module, std::int64_t total_rows, std::int64_t total_cols, IndexRange rows,
                      IndexRange cols) const {
    if (folder_.find_tensor(module + ".scales") != nullptr) {
      return quantized_matrix(module, total_rows, total_cols, rows, cols);
    }
    const TensorEntry& entry = tensor(module + ".weight", {total_rows, total_cols});
    WeightMatrix m;
    m.dtype = *float_dtype(entry.type);
    m.rows = static_cast<std::size_t>(rows.size());
    m.cols = static_cast<std::size_t>(cols.size());
    const std::size_t element = dtype_size(m.dtype);
    const Block b = block(entry, static_cast<std::size_t>(total_cols) * element, rows,
                          static_cast<std::size_t>(cols.begin) * element, m.cols * element);
    m.data = b.data;
    m.row_stride = b.stride / element;
    return m;
  }

 private:
  struct Block {
    const std::byte* data;
    std::size_t stride;  // bytes from one row to the next
  };

  // Bytes [col_offset, col_offset + col_bytes) of rows [rows.begin, rows.end) of a 2-D tensor whose
  // rows are row_bytes long. A whole tensor is a view into the file's mapping and a block of whole
  // rows gets a mapping of its own; a block of columns is read from the file into owned memory,
  // because its pieces are scattered over every page of the tensor and a view would make them all
  // resident.
  Block block(const TensorEntry& entry, std::size_t row_bytes, IndexRange rows, std::size_t col_offset,
              std::size_t col_bytes) const {
    const auto n_rows = static_cast<std::size_t>(rows.size());
    const std::size_t start = static_cast<std::size_t>(rows.begin) * row_bytes + col_offset;
    if (col_bytes == row_bytes) {
      if (n_rows * row_bytes == entry.nbytes) return {entry.data, row_bytes};
      weights_.regions.push_back(entry.file->map_region(entry.file_offset() + start, n_rows * row_bytes));
      return {weights_.regions.back().data(), row_bytes};
    }
    auto& storage = weights_.owned.emplace_back(n_rows * col_bytes);
    for (std::size_t r = 0; r < n_rows; ++r) {
      entry.file->read_at(entry.file_offset() + start + r * row_bytes, col_bytes, storage.data() + r * col_bytes);
    }
    return {storage.data(), col_bytes};
  }

  // An MLX-quantized module: packed codes in <module>.weight, scales and biases beside them.
  WeightMatrix quantized_matrix(const std::string& module, std::int64_t total_rows, std::int64_t total_cols,
                                IndexRange rows, IndexRange cols) const {
    const auto spec = config_.quantization.for_module(module);
    if (!spec) {
      throw std::runtime_error(fmt::format("model '{}': '{}' is quantized ({}.scales) but config.json's "
                                           "\"quantization\" gives no parameters for it",
                                           folder_.dir().string(), module, module));
    }
    const std::int64_t groups = total_cols / spec->group_size;
    if (total_cols % spec->group_size != 0) {
      throw std::runtime_error(fmt::format("model '{}': '{}' has {} inputs, not a multiple of its group size {}",
                                           folder_.dir().string(), module, total_cols, spec->group_size));
    }
    if (cols.begin % spec->group_size != 0 || cols.size() % spec->group_size != 0) {
      throw std::runtime_error(fmt::format(
          "'{}' is quantized in groups of {} inputs, but this layout gives a rank inputs [{}, {}): a tensor-parallel "
          "split of the input dimension must fall on group boundaries (choose a --tp that divides the {} groups)",
          module, spec->group_size, cols.begin, cols.end, groups));
    }
    const std::int64_t words = total_cols * spec->bits / 32;
    const TensorEntry& packed = tensor(module + ".weight", {total_rows, words}, false);
    const TensorEntry& scales = tensor(module + ".scales", {total_rows, groups});
    const TensorEntry& biases = tensor(module + ".biases", {total_rows, groups});
    if (scales.type != biases.type) {
      throw std::runtime_error(fmt::format("model '{}': '{}' has scales and biases of different dtypes",
                                           folder_.dir().string(), module));
    }
    WeightMatrix m;
    m.dtype = *float_dtype(scales.type);
    m.rows = static_cast<std::size_t>(rows.size());
    m.cols = static_cast<std::size_t>(cols.size());
    const std::size_t element = dtype_size(m.dtype);
    const auto word_of = [&](std::int64_t col) { return static_cast<std::size_t>(col * spec->bits / 32) * 4; };
    const auto group_of = [&](std::int64_t col) { return static_cast<std::size_t>(col / spec->group_size) * element; };
    const Block codes = block(packed, word_of(total_cols), rows, word_of(cols.begin), word_of(cols.size()));
    const Block scale_block = block(scales, group_of(total_cols), rows, group_of(cols.begin), group_of(cols.size()));
    const Block bias_block = block(biases, group_of(total_cols), rows, group_of(cols.begin), group_of(cols.size()));
    m.data = codes.data;
    m.row_stride = codes.stride / 4;
    m.quant = {spec->bits, spec->group_size, scale_block.data, bias_block.data, scale_block.stride / element};
    check_weight_matrix(m);
    return m;
  }

 public:
  std::vector<float> vector(const std::string& name, std::int64_t total, IndexRange part) const {
    const TensorEntry& entry = tensor(name, {total});
    const DType dtype = *float_dtype(entry.type);
    std::vector<float> values(static_cast<std::size_t>(part.size()));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::size_t index = static_cast<std::size_t>(part.begin) + i;
      switch (dtype) {
        case DType::F32: values[i] = reinterpret_cast<const float*>(entry.data)[index]; break;
        case DType::F16: values[i] = f16_to_f32(reinterpret_cast<const std::uint16_t*>(entry.data)[index]); break;
        case DType::BF16: values[i] = bf16_to_f32(reinterpret_cast<const std::uint16_t*>(entry.data)[index]); break;
      }
    }
    return values;
  }

 private:
  const ModelFolder& folder_;
  const ModelConfig& config_;
  ModelWeights& weights_;
};

IndexRange scaled(IndexRange range, std::int64_t factor) { return {range.begin * factor, range.end * factor}; }

Linear load_linear(const WeightReader& reader, const std::string& prefix, bool has_bias, std::int64_t out_features,
                   std::int64_t in_features, IndexRange rows, IndexRange cols) {
  Linear linear;
  linear.weight = reader.matrix(prefix, out_features, in_features, rows, cols);
  if (has_bias) {
    // A bias belongs to the output rows; a layer split by input columns adds it once, on the shard
    // that holds the first columns, so that the all-reduce sums it exactly once.
    if (cols.begin == 0) linear.bias = reader.vector(prefix + ".bias", out_features, rows);
  }
  return linear;
}

}  // namespace

ModelWeights load_model_weights(const ModelFolder& folder, const ModelConfig& config, const ModelSlice& slice) {
  ModelWeights weights;
  const WeightReader reader(folder, config, weights);
  const std::int64_t hidden = config.hidden_size;
  const IndexRange all_hidden{0, hidden};
  const IndexRange q_rows = scaled(slice.q_heads, config.head_dim);
  const IndexRange kv_rows = scaled(slice.kv_heads, config.head_dim);

  if (slice.has_embedding || (slice.has_head && config.tie_word_embeddings)) {
    weights.embedding = reader.matrix("model.embed_tokens", config.vocab_size, hidden, slice.vocab, all_hidden);
  }
  for (std::int64_t layer = slice.layers.begin; layer < slice.layers.end; ++layer) {
    const std::string prefix = fmt::format("model.layers.{}.", layer);
    const std::string attn = prefix + "self_attn.";
    const std::string mlp = prefix + "mlp.";
    LayerWeights w;
    w.input_norm = reader.vector(prefix + "input_layernorm.weight", hidden, all_hidden);
    w.q = load_linear(reader, attn + "q_proj", config.qkv_bias, config.q_dim(), hidden, q_rows, all_hidden);
    w.k = load_linear(reader, attn + "k_proj", config.qkv_bias, config.kv_dim(), hidden, kv_rows, all_hidden);
    w.v = load_linear(reader, attn + "v_proj", config.qkv_bias, config.kv_dim(), hidden, kv_rows, all_hidden);
    w.o = load_linear(reader, attn + "o_proj", config.o_bias, hidden, config.q_dim(), all_hidden, q_rows);
    if (config.qk_norm) {
      const IndexRange head{0, config.head_dim};
      w.q_norm = reader.vector(attn + "q_norm.weight", config.head_dim, head);
      w.k_norm = reader.vector(attn + "k_norm.weight", config.head_dim, head);
    }
    w.post_attention_norm = reader.vector(prefix + "post_attention_layernorm.weight", hidden, all_hidden);
    const std::int64_t ffn = config.intermediate_size;
    w.gate = load_linear(reader, mlp + "gate_proj", config.mlp_bias, ffn, hidden, slice.ffn, all_hidden);
    w.up = load_linear(reader, mlp + "up_proj", config.mlp_bias, ffn, hidden, slice.ffn, all_hidden);
    w.down = load_linear(reader, mlp + "down_proj", config.mlp_bias, hidden, ffn, all_hidden, slice.ffn);
    weights.layers.push_back(std::move(w));
  }
  if (slice.has_head) {
    weights.final_norm = reader.vector("model.norm.weight", hidden, all_hidden);
    weights.lm_head = config.tie_word_embeddings
                          ? weights.embedding
                          : reader.matrix("lm_head", config.vocab_size, hidden, slice.vocab, all_hidden);
  }
  if (!slice.has_embedding) weights.embedding = {};
  return weights;
}

std::size_t slice_weight_bytes(const ModelWeights& weights) {
  const auto matrix_bytes = [](const WeightMatrix& m) { return m.data == nullptr ? std::size_t{0} : weight_bytes(m); };
  const auto linear_bytes = [&](const Linear& l) { return matrix_bytes(l.weight) + l.bias.size() * sizeof(float); };
  std::size_t bytes = matrix_bytes(weights.embedding) + weights.final_norm.size() * sizeof(float);
  if (weights.lm_head.data != weights.embedding.data) bytes += matrix_bytes(weights.lm_head);
  for (const auto& layer : weights.layers) {
    bytes += (layer.input_norm.size() + layer.post_attention_norm.size() + layer.q_norm.size() + layer.k_norm.size()) *
             sizeof(float);
    for (const Linear* l : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.gate, &layer.up, &layer.down}) {
      bytes += linear_bytes(*l);
    }
  }
  return bytes;
}

}  // namespace shardlm
