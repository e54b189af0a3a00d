#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <optional>
#include <sstream>

#include "comm/world.h"
#include "launch/cli/model_session.h"
#include "launch/commands/commands.h"

int main(int argc, char** argv) {
  std::optional<shardlm::comm::World> world;
  if (shardlm::comm::World::launched_by_mpirun()) world.emplace(argc, argv);
  shardlm::cli::set_world(world ? &*world : nullptr);
  const bool rank0 = shardlm::cli::is_rank0();
  const bool many_ranks = world && world->size() > 1;

  CLI::App app("shardlm: sharded LLM inference on CPU clusters", "shardlm");
  app.require_subcommand(1);
  app.set_version_flag("--version", "shardlm 0.1.0");
  shardlm::cli::add_generate_command(app);
  shardlm::cli::add_logits_command(app);
  shardlm::cli::add_info_command(app);
  shardlm::cli::add_perplexity_command(app);
  shardlm::cli::add_quantize_command(app);
  shardlm::cli::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // Usually every rank fails alike and one copy of the message is enough; a rank that fails alone
    // (a file missing on its host) says so, and all ranks leave together.
    const bool success = error.get_exit_code() == 0;
    if (!success) shardlm::cli::refuse_arguments();
    if (rank0) return app.exit(error);
    std::ostringstream discard;
    const int code = app.exit(error, discard, discard);
    if (!success) std::fprintf(stderr, "shardlm: error on rank %d: %s\n", world->rank(), error.what());
    return code;
  } catch (const shardlm::cli::JobRefused&) {
    return 1;
  } catch (const std::exception& error) {
    // Other ranks may be waiting for this one: bring the whole job down rather than hang.
    if (many_ranks) shardlm::comm::World::abort_job(error.what());
    std::fprintf(stderr, "shardlm: error: %s\n", error.what());
    return 1;
  }
  return 0;
}
