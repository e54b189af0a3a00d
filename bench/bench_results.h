#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/generation_benchmark.h"

namespace shardlm::bench {

// The machine a benchmark ran on.
struct MachineInfo {
  std::string cpu;     // /proc/cpuinfo's model name
  int cores = 0;       // hardware threads of this host
  std::string kernel;  // the matmul kernel set chosen at run time
};

MachineInfo this_machine();

// What a rank says about itself after a configuration's trials.
struct RankFacts {
  int rank = 0;
  std::string host;
  std::size_t peak_rss_bytes = 0;
  std::size_t weight_bytes = 0;
  double probe_bytes_per_second = 0.0;  // the memory bandwidth probe, run by all ranks at once at start
};

// One configuration and its trials. With several replicas each runs the case at once: a trial's
// times are the slowest replica's, its tokens all replicas', and mpi_seconds lists every rank of
// every replica, in rank order as `ranks` does.
struct Configuration {
  std::string model;
  std::string dtype;
  int tp = 1, pp = 1, replicas = 1, threads = 1;
  BenchCase bench_case;
  int warmup = 0;
  std::vector<Trial> trials;
  std::vector<RankFacts> ranks;
  MachineInfo machine;
};

// The configuration's JSON object. Rates and times are medians over the trials with their _min and
// _max; `trials` keeps each trial's values. Derived figures:
//   prompt_tokens_per_s     = prompts x prompt_tokens / prompt seconds      (ttft_s = prompt seconds)
//   generation_tokens_per_s = prompts x decode steps / generation seconds   (prompts: batch x replicas)
//   decode_bandwidth_gbs    = weight_bytes_per_rank / (generation seconds / decode steps) / 1e9, where
//                             weight_bytes_per_rank is the largest rank's weight bytes: the rank that
//                             sets the pace of a step, since every rank reads all its weights per step
//   probe_bandwidth_gbs     = that rank's probe; roofline_percent = 100 x decode / probe bandwidth
//   mpi_seconds_per_token   = the largest of each rank's MPI seconds during decoding divided by the
//                             tokens its replica generated then (decode steps x batch)
nlohmann::json result_json(const Configuration& configuration);

// mlx-lm style Markdown table of results (model, quant, prompt and generation tok/s, memory), with
// layout, time to first token, bandwidths, roofline and MPI columns.
std::string markdown_table(const std::vector<nlohmann::json>& results);

// The results as CSV: one row each, nested objects flattened to parent_child columns; lists
// (trials, ranks) are left to the JSON.
std::string csv_table(const std::vector<nlohmann::json>& results);

}  // namespace shardlm::bench
