#include "golden/fixture.h"

#include <fstream>
#include <stdexcept>

#include "runtime/engine/local_model.h"
#include "runtime/io/json_file.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm::testing {

std::filesystem::path fixtures_dir() { return SHARDLM_FIXTURES_DIR; }

std::vector<std::string> golden_fixture_names() {
  std::vector<std::string> names;
  for (const char* family : {"llama", "llama_mha", "mistral", "qwen2", "qwen3"}) {
    for (const char* dtype : {"f32", "bf16"}) names.push_back(std::string(family) + "_" + dtype);
  }
  return names;
}

GoldenFixture load_golden_fixture(const std::string& name) {
  GoldenFixture fixture;
  fixture.name = name;
  fixture.dir = fixtures_dir() / name;
  const auto reference = read_json_file(fixture.dir / "reference.json");
  fixture.prompt_ids = reference.at("prompt_ids").get<std::vector<std::int32_t>>();
  fixture.greedy_ids = reference.at("greedy_ids").get<std::vector<std::int32_t>>();
  fixture.logits_std = reference.at("logits_std").get<double>();
  const auto shape = reference.at("logits_shape").get<std::vector<std::size_t>>();
  fixture.vocab = shape.at(1);
  fixture.logits.resize(shape.at(0) * shape.at(1));
  std::ifstream file(fixture.dir / "logits.f32", std::ios::binary);
  file.read(reinterpret_cast<char*>(fixture.logits.data()),
            static_cast<std::streamsize>(fixture.logits.size() * sizeof(float)));
  if (!file || file.peek() != EOF) throw std::runtime_error(name + ": logits.f32 does not match logits_shape");
  return fixture;
}

std::string join_ids(const std::vector<std::int32_t>& ids) {
  std::string text;
  for (const auto id : ids) {
    if (!text.empty()) text += ',';
    text += std::to_string(id);
  }
  return text;
}

std::vector<float> prompt_logits(const std::filesystem::path& model_dir, const std::vector<std::int32_t>& prompt) {
  ThreadPool pool(2);
  LocalModel model(model_dir, pool);
  const SequenceTokens batch{model.open_sequence(), prompt};
  std::vector<float> logits;
  model.forward({&batch, 1}, true, logits);
  return logits;
}

}  // namespace shardlm::testing
