#include "runtime/threading/thread_pool.h"

#include <algorithm>
#include <cassert>
#include <chrono>

namespace shardlm {

namespace {

// Long enough to cover the gap between the matmuls of one decode step, short enough that idle
// workers soon stop taking a core from OpenBLAS threads or other processes.
constexpr auto kSpinBudget = std::chrono::microseconds(250);

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls done() until it holds or the spin budget runs out; says which. After the first few
// polls it yields between them, so that a thread it waits for that shares its core (other processes,
// OpenBLAS threads, a pool bigger than the machine) gets to run.
template <typename Predicate>
bool spin_until(Predicate done) {
  for (int i = 0; i < 256; ++i) {
    if (done()) return true;
    cpu_relax();
  }
  const auto deadline = std::chrono::steady_clock::now() + kSpinBudget;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      if (done()) return true;
      std::this_thread::yield();
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
  }
}

// Start of chunk `index` when [0, n) is cut into `parts` contiguous chunks whose sizes differ by at
// most one.
std::size_t chunk_begin(std::size_t n, std::size_t parts, std::size_t index) {
  return index * (n / parts) + std::min(index, n % parts);
}

}  // namespace

std::size_t default_thread_count() {
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(std::size_t n_threads) : n_threads_(std::max<std::size_t>(1, n_threads)) {
  workers_.reserve(n_threads_ - 1);
  try {
    for (std::size_t i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  } catch (...) {
    // The destructor will not run for a half-built pool, so the workers already started stop here.
    stop_workers();
    throw;
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_ready_.notify_all();
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
}

void ThreadPool::run(std::size_t n, ChunkBody body) {
  if (n == 0) return;
  if (n_threads_ == 1 || n == 1) {
    body(0, n);
    return;
  }
#ifndef NDEBUG
  const bool was_in_loop = in_loop_.exchange(true);
  assert(!was_in_loop && "ThreadPool::parallel_for is not reentrant");
#endif

  loop_size_ = n;
  loop_body_ = &body;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  {
    // Bumping the generation under the mutex means a worker about to block cannot miss it.
    std::lock_guard lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_ready_.notify_all();

  run_chunk(0);
  wait_for_workers();
  loop_body_ = nullptr;
#ifndef NDEBUG
  in_loop_.store(false);
#endif
}

void ThreadPool::run_chunk(std::size_t thread_index) const {
  const std::size_t begin = chunk_begin(loop_size_, n_threads_, thread_index);
  const std::size_t end = chunk_begin(loop_size_, n_threads_, thread_index + 1);
  if (begin < end) (*loop_body_)(begin, end);
}

void ThreadPool::wait_for_workers() {
  const auto all_done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (spin_until(all_done)) return;
  std::unique_lock lock(mutex_);
  work_done_.wait(lock, all_done);
}

void ThreadPool::worker_loop(std::size_t thread_index) {
  // Each loop bumps the generation by exactly one, and the next loop cannot start before this
  // worker has finished its chunk of the current one, so no generation is ever skipped.
  std::uint64_t seen = 0;
  for (;;) {
    const auto new_work = [this, &seen] {
      return generation_.load(std::memory_order_acquire) != seen;
    };
    if (!spin_until(new_work)) {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, new_work);
    }
    ++seen;
    if (stopping_.load(std::memory_order_relaxed)) return;

    run_chunk(thread_index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // Taking the mutex orders this wake-up after a caller that checked pending_ and is about to block.
      std::lock_guard lock(mutex_);
      work_done_.notify_one();
    }
  }
}

}  // namespace shardlm
