#pragma once

// Internal to comm/: the MPI objects behind the public wrappers.
#include <mpi.h>

#include "comm/communicator.h"

namespace shardlm::comm {

struct Communicator::Handle {
  MPI_Comm comm = MPI_COMM_NULL;
  bool owned = false;  // split communicators are freed; MPI_COMM_WORLD is not
};

struct PendingTransfer::Handle {
  MPI_Request request = MPI_REQUEST_NULL;
};

// Turns an MPI error code into an exception naming the operation.
void check_mpi(int code, const char* operation);

}  // namespace shardlm::comm
