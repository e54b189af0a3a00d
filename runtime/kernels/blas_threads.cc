#include "runtime/kernels/blas_threads.h"

#include <cblas.h>

namespace shardlm {

void set_blas_threads(int n_threads) { openblas_set_num_threads(n_threads); }

BlasOnCallingThreads::BlasOnCallingThreads() : saved_threads_(openblas_get_num_threads()) {
  openblas_set_num_threads(1);
}

BlasOnCallingThreads::~BlasOnCallingThreads() { openblas_set_num_threads(saved_threads_); }

}  // namespace shardlm
