#include "bench/bench_results.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

#include "bench/median.h"
#include "runtime/kernels/bf16_activations.h"
#include "runtime/kernels/matmul.h"

namespace shardlm::bench {

namespace {

struct Spread {
  double median = 0.0, min = 0.0, max = 0.0;
};

Spread spread_of(const std::vector<double>& values) {
  if (values.empty()) return {};
  const auto [min, max] = std::minmax_element(values.begin(), values.end());
  return {median(values), *min, *max};
}

void put_spread(nlohmann::json& out, const std::string& name, const std::vector<double>& values) {
  const Spread s = spread_of(values);
  out[name] = s.median;
  out[name + "_min"] = s.min;
  out[name + "_max"] = s.max;
}

void flatten(const nlohmann::json& value, const std::string& prefix, std::map<std::string, std::string>& row,
             std::vector<std::string>& columns) {
  if (value.is_array()) return;
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) flatten(child, prefix.empty() ? key : prefix + "_" + key, row, columns);
    return;
  }
  if (std::find(columns.begin(), columns.end(), prefix) == columns.end()) columns.push_back(prefix);
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.find_first_of(",\"\n") != std::string::npos) {
    std::string quoted = "\"";
    for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    text = quoted + "\"";
  }
  row[prefix] = text;
}

}  // namespace

MachineInfo this_machine() {
  MachineInfo machine;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      machine.cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  machine.cores = static_cast<int>(std::thread::hardware_concurrency());
  machine.kernel = matmul_kernel_name();
  if (bf16_activations() == Bf16Activations::kSplit) machine.kernel += " (--exact-bf16)";
  return machine;
}

nlohmann::json result_json(const Configuration& c) {
  if (c.trials.empty() || c.ranks.empty()) throw std::logic_error("a benchmark configuration without trials or ranks");
  const double prompts = static_cast<double>(c.bench_case.batch) * c.replicas;
  const auto busiest = std::max_element(c.ranks.begin(), c.ranks.end(),
                                        [](const RankFacts& a, const RankFacts& b) { return a.weight_bytes < b.weight_bytes; });
  const double weight_bytes = static_cast<double>(busiest->weight_bytes);
  const double probe_gbs = busiest->probe_bytes_per_second / 1e9;

  std::vector<double> prompt_rate, generation_rate, ttft, bandwidth, mpi;
  std::vector<double> rank_mpi_sum(c.ranks.size(), 0.0);
  nlohmann::json trials = nlohmann::json::array();
  for (const Trial& t : c.trials) {
    const double steps = t.decode_steps;
    double mpi_per_token = 0.0;
    for (std::size_t r = 0; r < t.mpi_seconds.size() && r < c.ranks.size(); ++r) {
      const double per_token = t.mpi_seconds[r] / (steps * c.bench_case.batch);
      mpi_per_token = std::max(mpi_per_token, per_token);
      rank_mpi_sum[r] += per_token;
    }
    prompt_rate.push_back(prompts * c.bench_case.prompt_tokens / t.prompt_seconds);
    generation_rate.push_back(prompts * steps / t.generation_seconds);
    ttft.push_back(t.prompt_seconds);
    bandwidth.push_back(weight_bytes / (t.generation_seconds / steps) / 1e9);
    mpi.push_back(mpi_per_token);
    trials.push_back({{"prompt_seconds", t.prompt_seconds},
                      {"generation_seconds", t.generation_seconds},
                      {"decode_steps", t.decode_steps},
                      {"prompt_tokens_per_s", prompt_rate.back()},
                      {"generation_tokens_per_s", generation_rate.back()},
                      {"ttft_s", ttft.back()},
                      {"decode_bandwidth_gbs", bandwidth.back()},
                      {"mpi_seconds_per_token", mpi.back()}});
  }

  nlohmann::json out;
  out["model"] = c.model;
  out["layout"] = {{"tp", c.tp}, {"pp", c.pp}, {"replicas", c.replicas}, {"threads", c.threads}};
  out["dtype"] = c.dtype;
  out["prompt_tokens"] = c.bench_case.prompt_tokens;
  out["gen_tokens"] = c.bench_case.gen_tokens;
  out["batch"] = c.bench_case.batch;
  out["warmup"] = c.warmup;
  put_spread(out, "prompt_tokens_per_s", prompt_rate);
  put_spread(out, "generation_tokens_per_s", generation_rate);
  put_spread(out, "ttft_s", ttft);
  std::size_t peak_max = 0, peak_sum = 0;
  nlohmann::json ranks = nlohmann::json::array();
  for (std::size_t r = 0; r < c.ranks.size(); ++r) {
    const RankFacts& rank = c.ranks[r];
    peak_max = std::max(peak_max, rank.peak_rss_bytes);
    peak_sum += rank.peak_rss_bytes;
    ranks.push_back({{"rank", rank.rank},
                     {"host", rank.host},
                     {"peak_rss_bytes", rank.peak_rss_bytes},
                     {"weight_bytes", rank.weight_bytes},
                     {"probe_bandwidth_gbs", rank.probe_bytes_per_second / 1e9},
                     {"mpi_seconds_per_token", rank_mpi_sum[r] / static_cast<double>(c.trials.size())}});
  }
  out["peak_rss_bytes_max"] = peak_max;
  out["peak_rss_bytes_sum"] = peak_sum;
  out["weight_bytes_per_rank"] = busiest->weight_bytes;
  put_spread(out, "decode_bandwidth_gbs", bandwidth);
  out["probe_bandwidth_gbs"] = probe_gbs;
  out["roofline_percent"] = probe_gbs > 0.0 ? 100.0 * out["decode_bandwidth_gbs"].get<double>() / probe_gbs : 0.0;
  put_spread(out, "mpi_seconds_per_token", mpi);
  out["trials"] = std::move(trials);
  out["ranks"] = std::move(ranks);
  out["machine"] = {{"cpu", c.machine.cpu}, {"cores", c.machine.cores}, {"kernel", c.machine.kernel}};
  return out;
}

std::string markdown_table(const std::vector<nlohmann::json>& results) {
  std::string text =
      "| model | quant | layout | threads | prompt | gen | batch | prompt tok/s | generation tok/s | TTFT s | "
      "memory GB (max rank) | weights GB/rank | decode GB/s | probe GB/s | % roofline | MPI ms/token |\n"
      "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& r : results) {
    const auto& layout = r["layout"];
    std::string layout_text = fmt::format("tp{} pp{}", layout["tp"].get<int>(), layout["pp"].get<int>());
    if (layout["replicas"].get<int>() > 1) layout_text += fmt::format(" ×{}", layout["replicas"].get<int>());
    text += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {} | {:.1f} | {:.2f} | {:.3f} | {:.3f} | {:.3f} | {:.2f} | {:.2f} | {:.0f}% | "
        "{:.3f} |\n",
        r["model"].get<std::string>(), r["dtype"].get<std::string>(), layout_text, layout["threads"].get<int>(),
        r["prompt_tokens"].get<int>(), r["gen_tokens"].get<int>(), r["batch"].get<int>(),
        r["prompt_tokens_per_s"].get<double>(), r["generation_tokens_per_s"].get<double>(), r["ttft_s"].get<double>(),
        r["peak_rss_bytes_max"].get<double>() / 1e9, r["weight_bytes_per_rank"].get<double>() / 1e9,
        r["decode_bandwidth_gbs"].get<double>(), r["probe_bandwidth_gbs"].get<double>(),
        r["roofline_percent"].get<double>(), 1e3 * r["mpi_seconds_per_token"].get<double>());
  }
  return text;
}

std::string csv_table(const std::vector<nlohmann::json>& results) {
  std::vector<std::string> columns;
  std::vector<std::map<std::string, std::string>> rows;
  for (const auto& result : results) flatten(result, "", rows.emplace_back(), columns);
  std::string text;
  for (std::size_t i = 0; i < columns.size(); ++i) text += (i ? "," : "") + columns[i];
  text += "\n";
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      const auto cell = row.find(columns[i]);
      text += (i ? "," : "") + (cell == row.end() ? std::string() : cell->second);
    }
    text += "\n";
  }
  return text;
}

}  // namespace shardlm::bench
