#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace shardlm {

// hardware_concurrency(), or 1 where the platform cannot tell.
std::size_t default_thread_count();

// A fixed set of worker threads for data-parallel loops. The thread that calls parallel_for does
// one share of the work itself, so a pool of size n starts n - 1 workers (and a pool asked for 0
// threads has 1).
//
// Workers spin briefly after each loop before they block, so that the many short loops of a decode
// step do not each pay for a futex wake-up.
//
// Not reentrant: parallel_for must not be called from inside a body, nor from two threads at once.
class ThreadPool {
 public:
  explicit ThreadPool(std::size_t n_threads = default_thread_count());
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ThreadPool(ThreadPool&&) = delete;
  ThreadPool& operator=(ThreadPool&&) = delete;

  std::size_t size() const { return n_threads_; }

  // Calls body(begin, end) once per non-empty chunk of [0, n), with one contiguous chunk of near-equal
  // size per thread, and returns when every chunk is done. body must not throw: an exception that
  // escapes it terminates the program, since a worker has nobody to hand it to.
  template <typename F>
  void parallel_for(std::size_t n, F&& body) {
    run(n, ChunkBody(body));
  }

 private:
  // A non-owning reference to a callable, so that parallel_for does not allocate as std::function may.
  class ChunkBody {
   public:
    template <typename F>
    explicit ChunkBody(F& body)
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(body)))),
          call_(&call<F>) {}

    void operator()(std::size_t begin, std::size_t end) const { call_(object_, begin, end); }

   private:
    template <typename F>
    static void call(void* object, std::size_t begin, std::size_t end) noexcept {
      (*static_cast<F*>(object))(begin, end);
    }

    void* object_;
    void (*call_)(void*, std::size_t, std::size_t) noexcept;
  };

  void run(std::size_t n, ChunkBody body);
  void run_chunk(std::size_t thread_index) const;
  void worker_loop(std::size_t thread_index);
  void wait_for_workers();
  void stop_workers();

  std::size_t n_threads_;
  std::vector<std::thread> workers_;

  // The current loop. Written by the caller before it bumps generation_, read by workers after they
  // see the new generation, and left alone until pending_ drops to zero.
  std::size_t loop_size_ = 0;
  const ChunkBody* loop_body_ = nullptr;

  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> stopping_{false};
#ifndef NDEBUG
  std::atomic<bool> in_loop_{false};
#endif

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
};

}  // namespace shardlm
