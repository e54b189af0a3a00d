// A test driver for cli::estimate_sensitivities: the entry point `shardlm quantize --target-bpw`
// calls, run alone or under mpirun, writing rank 0's result as JSON. Errors behave as in shardlm:
// a refusal leaves every rank with exit code 1, any other failure brings the whole job down.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "comm/world.h"
#include "launch/cli/model_session.h"
#include "launch/cli/sensitivity_estimation.h"

int main(int argc, char** argv) {
  using namespace shardlm;
  std::optional<comm::World> world;
  if (comm::World::launched_by_mpirun()) world.emplace(argc, argv);
  cli::set_world(world ? &*world : nullptr);

  CLI::App app("sensitivity_probe: per-module sensitivities as JSON");
  cli::ModelOptions model;
  cli::LayoutOptions layout;
  cli::DataOptions data;
  int replicas = 1;
  SensitivitySettings settings;
  std::string out;
  model.add_to(app);
  layout.add_to(app);
  data.add_to(app);
  app.add_option("--replicas", replicas);
  app.add_option("--low-bits", settings.low.bits);
  app.add_option("--high-bits", settings.high.bits);
  app.add_option("--out", out)->required();
  CLI11_PARSE(app, argc, argv);
  try {
    const Sensitivities result = cli::estimate_sensitivities(model, layout, replicas, data, settings);
    if (cli::is_rank0()) std::ofstream(out) << nlohmann::json(result).dump(1) << "\n";
  } catch (const cli::JobRefused&) {
    return 1;
  } catch (const std::exception& error) {
    if (world && world->size() > 1) comm::World::abort_job(error.what());
    std::fprintf(stderr, "sensitivity_probe: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
