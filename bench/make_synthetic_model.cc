// shardlm-synthetic-model: writes a random-weight Llama model folder of any shape, for benchmarks.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bench/synthetic_model.h"

int main(int argc, char** argv) {
  CLI::App app("Write a random-weight LlamaForCausalLM folder (bf16) for benchmarks", "shardlm-synthetic-model");
  std::string out;
  shardlm::bench::SyntheticModelShape shape;
  unsigned seed = 1;
  app.add_option("--out", out, "Output folder")->required();
  app.add_option("--vocab", shape.vocab)->capture_default_str();
  app.add_option("--hidden", shape.hidden)->capture_default_str();
  app.add_option("--intermediate", shape.intermediate)->capture_default_str();
  app.add_option("--layers", shape.layers)->capture_default_str();
  app.add_option("--heads", shape.heads)->capture_default_str();
  app.add_option("--kv-heads", shape.kv_heads)->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    shardlm::bench::write_synthetic_model(out, shape, seed);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "shardlm-synthetic-model: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
