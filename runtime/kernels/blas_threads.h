#pragma once

namespace shardlm {

// Sets how many threads OpenBLAS uses for the prefill matrix products of this rank.
void set_blas_threads(int n_threads);

}  // namespace shardlm
