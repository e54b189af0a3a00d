#include "comm/world.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "comm/mpi_handles.h"

namespace shardlm::comm {

namespace {

int g_rank = 0;
std::string g_host;

std::unique_ptr<Communicator::Handle> world_handle(int& argc, char**& argv) {
  int provided = 0;
  check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "init");
  // Errors come back as codes (turned into exceptions) so that the job ends with a message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  auto handle = std::make_unique<Communicator::Handle>();
  handle->comm = MPI_COMM_WORLD;
  return handle;
}

}  // namespace

World::World(int& argc, char**& argv) : world_(world_handle(argc, argv)) {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  host_ = name;
  g_rank = world_.rank();
  g_host = host_;
  MPI_Comm local;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_.rank(), MPI_INFO_NULL, &local),
            "comm_split_type");
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
}

World::~World() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

bool World::all_ok(bool ok) const {
  double failed = ok ? 0.0 : 1.0;
  world_.all_reduce_max(&failed, 1);
  return failed == 0.0;
}

bool World::launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr ||
         std::getenv("PMI_RANK") != nullptr;
}

void World::abort_job(const std::string& message, int exit_code) {
  std::fprintf(stderr, "shardlm: error on rank %d (%s): %s\n", g_rank, g_host.c_str(), message.c_str());
  std::fflush(stderr);
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace shardlm::comm
