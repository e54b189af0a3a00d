#include "runtime/data/token_stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>

#include "runtime/text/tokenizer.h"

namespace shardlm {

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(fmt::format("cannot open data file '{}'", path.string()));
  std::ostringstream contents;
  contents << file.rdbuf();
  std::string text = contents.str();
  if (text.empty()) throw std::runtime_error(fmt::format("data file '{}' is empty", path.string()));
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

void append_document(TokenStream& stream, const Tokenizer& tokenizer, const std::string& document) {
  const auto bos = tokenizer.special().bos;
  if (bos >= 0) stream.ids.push_back(bos);
  const auto ids = tokenizer.encode_without_bos(document);
  stream.ids.insert(stream.ids.end(), ids.begin(), ids.end());
  ++stream.documents;
}

std::vector<std::string> jsonl_documents(const std::string& text, const std::filesystem::path& path) {
  std::vector<std::string> documents;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (trim(line).empty()) continue;
    nlohmann::json entry;
    try {
      entry = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& error) {
      throw std::runtime_error(fmt::format("{}:{}: malformed JSON line: {}", path.string(), number, error.what()));
    }
    if (!entry.is_object() || !entry.contains("text") || !entry["text"].is_string()) {
      throw std::runtime_error(fmt::format("{}:{}: expected an object with a string \"text\"", path.string(), number));
    }
    documents.push_back(entry["text"].get<std::string>());
  }
  return documents;
}

std::vector<std::int32_t> raw_int32(const std::string& bytes, const std::filesystem::path& path) {
  if (bytes.size() % 4 != 0) {
    throw std::runtime_error(fmt::format("'{}' holds {} bytes, not a whole number of int32 ids", path.string(), bytes.size()));
  }
  std::vector<std::int32_t> ids(bytes.size() / 4);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data() + 4 * i);
    ids[i] = static_cast<std::int32_t>(static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
                                       static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24);
  }
  return ids;
}

// A .npy file: magic, version, a little-endian header length, a Python-dict header, then the data.
std::vector<std::int32_t> numpy_int32(const std::string& bytes, const std::filesystem::path& path) {
  const auto fail = [&](const std::string& what) {
    throw std::runtime_error(fmt::format("'{}' is not a usable .npy file: {}", path.string(), what));
  };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) fail("missing the \\x93NUMPY magic");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_length = 0;
  std::size_t header_start = 0;
  if (major == 1) {
    header_length = static_cast<unsigned char>(bytes[8]) | static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail("truncated header");
    for (int i = 3; i >= 0; --i) header_length = header_length << 8 | static_cast<unsigned char>(bytes[8 + i]);
    header_start = 12;
  } else {
    fail(fmt::format("unknown format version {}", major));
  }
  if (header_start + header_length > bytes.size()) fail("header runs past the end of the file");
  const std::string header = bytes.substr(header_start, header_length);
  if (header.find("'descr': '<i4'") == std::string::npos && header.find("'descr': '|i4'") == std::string::npos) {
    fail("dtype must be little-endian int32 ('<i4'), header: " + trim(header));
  }
  if (header.find("'fortran_order': False") == std::string::npos) fail("Fortran-order arrays are not supported");
  return raw_int32(bytes.substr(header_start + header_length), path);
}

}  // namespace

bool is_pretokenized(const std::filesystem::path& path) {
  const auto extension = path.extension();
  return extension == ".i32" || extension == ".npy";
}

std::vector<std::string> split_documents(const std::string& text) {
  std::vector<std::string> documents;
  std::istringstream lines(text);
  std::string line;
  std::string current;
  const auto finish = [&] {
    std::string document = trim(current);
    if (!document.empty()) documents.push_back(std::move(document));
    current.clear();
  };
  while (std::getline(lines, line)) {
    if (trim(line).empty()) {
      finish();
    } else {
      current += line;
      current += '\n';
    }
  }
  finish();
  return documents;
}

TokenStream load_token_stream(const std::filesystem::path& path, const Tokenizer* tokenizer, std::int64_t vocab_size) {
  TokenStream stream;
  stream.source = path.string();
  const std::string bytes = read_file(path);
  if (is_pretokenized(path)) {
    stream.ids = path.extension() == ".npy" ? numpy_int32(bytes, path) : raw_int32(bytes, path);
  } else {
    if (tokenizer == nullptr) throw std::runtime_error(fmt::format("'{}' is text and needs the model's tokenizer", path.string()));
    const auto documents = path.extension() == ".jsonl" ? jsonl_documents(bytes, path) : split_documents(bytes);
    for (const auto& document : documents) append_document(stream, *tokenizer, document);
  }
  if (stream.ids.empty()) throw std::runtime_error(fmt::format("data file '{}' yields no tokens", path.string()));
  for (std::size_t i = 0; i < stream.ids.size(); ++i) {
    if (stream.ids[i] < 0 || stream.ids[i] >= vocab_size) {
      throw std::runtime_error(fmt::format("'{}': token {} (id {}) is outside the model's vocabulary [0, {})",
                                           path.string(), i, stream.ids[i], vocab_size));
    }
  }
  return stream;
}

std::vector<std::size_t> choose_windows(std::size_t stream_length, std::size_t seq_len, std::int64_t num_samples,
                                        std::uint64_t seed, const std::string& source) {
  if (seq_len < 2) throw std::invalid_argument("seq-len must be at least 2 (one token to condition on, one to score)");
  const std::size_t available = stream_length / seq_len;
  if (available == 0) {
    throw std::runtime_error(fmt::format("'{}' has {} tokens, fewer than one window of seq-len {}: it needs at least {}",
                                         source, stream_length, seq_len, seq_len));
  }
  std::vector<std::size_t> windows(available);
  std::iota(windows.begin(), windows.end(), std::size_t{0});
  if (num_samples >= 0 && static_cast<std::size_t>(num_samples) < available) {
    std::mt19937_64 rng(seed);
    for (std::size_t i = 0; i < static_cast<std::size_t>(num_samples); ++i) {
      std::uniform_int_distribution<std::size_t> pick(i, available - 1);
      std::swap(windows[i], windows[pick(rng)]);
    }
    windows.resize(static_cast<std::size_t>(num_samples));
    std::sort(windows.begin(), windows.end());
  }
  for (auto& window : windows) window *= seq_len;
  return windows;
}

}  // namespace shardlm
