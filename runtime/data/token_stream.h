#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace shardlm {

class Tokenizer;

// The one way every tool (perplexity, quantization calibration, benchmarks) reads evaluation data: a
// single stream of token ids made from one file.
//  - text (any other extension): documents separated by blank lines;
//  - .jsonl: one JSON object per line with a string "text", each a document;
//  - .i32: raw little-endian int32 ids; .npy: a NumPy int32 array (any shape, read in C order).
// Text documents are tokenized one by one, each with BOS first, and concatenated.
struct TokenStream {
  std::vector<std::int32_t> ids;
  std::size_t documents = 0;  // 0 for pre-tokenized files
  std::string source;
};

// Text and JSONL need the tokenizer; pre-tokenized files only the vocabulary size, against which
// every id is checked.
TokenStream load_token_stream(const std::filesystem::path& path, const Tokenizer* tokenizer, std::int64_t vocab_size);

// Whether a file is read as pre-tokenized ids rather than text.
bool is_pretokenized(const std::filesystem::path& path);

// Splits text into documents at blank lines, trimming each; empty documents are dropped.
std::vector<std::string> split_documents(const std::string& text);

// The evaluation windows: non-overlapping runs of seq_len tokens from the start of the stream (the
// incomplete tail is dropped). num_samples < 0 takes every window in stream order; otherwise that many
// distinct windows are drawn with `seed` and returned in stream order. Returned as start offsets.
std::vector<std::size_t> choose_windows(std::size_t stream_length, std::size_t seq_len, std::int64_t num_samples,
                                        std::uint64_t seed, const std::string& source);

}  // namespace shardlm
