#pragma once

#include <string>

#include "comm/communicator.h"

namespace shardlm::comm {

// The MPI job this process belongs to: initialised on construction, finalised on destruction.
class World {
 public:
  World(int& argc, char**& argv);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  const Communicator& all() const { return world_; }
  int rank() const { return world_.rank(); }
  int size() const { return world_.size(); }
  const std::string& host() const { return host_; }
  // Ranks of this job on this host, for sharing its cores between them.
  int ranks_on_this_host() const { return local_size_; }

  // Whether every rank says `ok`: a collective that lets ranks which failed alone (a file missing on
  // their host, say) stop the others before any of them waits for a peer that will never come.
  bool all_ok(bool ok) const;

  // True when this process was started by mpirun (so MPI must be initialised).
  static bool launched_by_mpirun();

  // Prints the message, naming this rank and host, and ends every rank of the job at once. Used
  // when a rank cannot go on: the others may be waiting for it and would otherwise hang.
  [[noreturn]] static void abort_job(const std::string& message, int exit_code = 1);

 private:
  Communicator world_;
  std::string host_;
  int local_size_ = 1;
};

}  // namespace shardlm::comm
