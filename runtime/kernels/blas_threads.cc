#include "runtime/kernels/blas_threads.h"

#include <cblas.h>

namespace shardlm {

void set_blas_threads(int n_threads) { openblas_set_num_threads(n_threads); }

}  // namespace shardlm
