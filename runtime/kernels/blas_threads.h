#pragma once

namespace shardlm {

// Sets how many threads OpenBLAS uses for the prefill matrix products of this rank.
void set_blas_threads(int n_threads);

// While in scope, OpenBLAS runs every call on its calling thread alone, so that the threads of a
// ThreadPool can each make calls of their own (attention's small per-head products): OpenBLAS's threads
// would otherwise be woken for every small product and contend with the pool's for the cores.
class BlasOnCallingThreads {
 public:
  BlasOnCallingThreads();
  ~BlasOnCallingThreads();
  BlasOnCallingThreads(const BlasOnCallingThreads&) = delete;
  BlasOnCallingThreads& operator=(const BlasOnCallingThreads&) = delete;

 private:
  int saved_threads_;
};

}  // namespace shardlm
