#include "runtime/system/memory_bandwidth.h"

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace shardlm {

namespace {

// Independent accumulators keep the loop limited by loads rather than by one chain of additions.
std::uint64_t sum_words_one_stream(const std::uint64_t* p, std::size_t n) {
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a += p[i];
    b += p[i + 1];
    c += p[i + 2];
    d += p[i + 3];
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

// GCC's generic vectors: 256-bit loads where the build targets AVX2, two 128-bit ones otherwise.
using WordLanes = std::uint64_t __attribute__((vector_size(32)));
constexpr std::size_t kLineWords = 64 / sizeof(std::uint64_t);
constexpr std::size_t kLaneWords = sizeof(WordLanes) / sizeof(std::uint64_t);
constexpr std::size_t kPrefetchWords = 2048 / sizeof(std::uint64_t);
constexpr std::size_t kStreams = 8;

std::uint64_t sum_words_streams(const std::uint64_t* p, std::size_t n) {
  const std::size_t length = n / kStreams / kLineWords * kLineWords;
  WordLanes sums[kStreams] = {};
  for (std::size_t i = 0; i < length; i += kLineWords) {
    for (std::size_t s = 0; s < kStreams; ++s) {
      const std::uint64_t* line = p + s * length + i;
      // A read past the end of the buffer is only ever a prefetch, which cannot fault.
      __builtin_prefetch(line + kPrefetchWords, 0, 1);
      WordLanes first, second;
      std::memcpy(&first, line, sizeof first);
      std::memcpy(&second, line + kLaneWords, sizeof second);
      sums[s] += first + second;
    }
  }
  std::uint64_t sum = 0;
  for (const WordLanes& lanes : sums) {
    for (std::size_t lane = 0; lane < kLaneWords; ++lane) sum += lanes[lane];
  }
  for (std::size_t i = kStreams * length; i < n; ++i) sum += p[i];
  return sum;
}

std::uint64_t sum_words(ReadLoop loop, const std::uint64_t* p, std::size_t n) {
  return loop == ReadLoop::kEightStreams ? sum_words_streams(p, n) : sum_words_one_stream(p, n);
}

// Bytes of the largest cache level that sysfs describes, or 32 MiB where it describes none.
std::size_t last_level_cache_bytes() {
  namespace fs = std::filesystem;
  int best_level = 0;
  std::size_t best_bytes = 32u << 20;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/sys/devices/system/cpu/cpu0/cache", error)) {
    if (entry.path().filename().string().rfind("index", 0) != 0) continue;
    int level = 0;
    std::string size;
    std::ifstream(entry.path() / "level") >> level;
    std::ifstream(entry.path() / "size") >> size;
    if (level <= best_level || size.empty()) continue;
    std::size_t bytes = std::stoull(size);
    if (size.back() == 'K') bytes <<= 10;
    if (size.back() == 'M') bytes <<= 20;
    best_level = level;
    best_bytes = bytes;
  }
  return best_bytes;
}

}  // namespace

ReadBandwidth measure_read_bandwidth(std::span<const std::uint64_t> words, std::size_t threads, int passes,
                                     std::initializer_list<ReadLoop> loops) {
  const auto loop_of_pass = [&loops](int pass) {
    return loops.size() == 0 ? ReadLoop::kOneStream : loops.begin()[static_cast<std::size_t>(pass) % loops.size()];
  };
  using Clock = std::chrono::steady_clock;
  threads = std::max<std::size_t>(1, threads);
  passes = std::max(1, passes);
  // Each thread keeps its results in a cache line of its own, so that the threads share no line they write.
  struct alignas(64) ThreadPass {
    Clock::time_point start, end;
    std::uint64_t sum = 0;
  };
  std::vector<ThreadPass> results(threads * static_cast<std::size_t>(passes));
  std::barrier sync(static_cast<std::ptrdiff_t>(threads));
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::size_t begin = words.size() * t / threads;
      const std::size_t end = words.size() * (t + 1) / threads;
      for (int pass = 0; pass < passes; ++pass) {
        ThreadPass& mine = results[static_cast<std::size_t>(pass) * threads + t];
        sync.arrive_and_wait();
        // Every read of the pass lies between the earliest start and the latest end, whichever
        // thread the scheduler delays, so a pass is never timed shorter than it was.
        mine.start = Clock::now();
        mine.sum = sum_words(loop_of_pass(pass), words.data() + begin, end - begin);
        mine.end = Clock::now();
      }
    });
  }
  for (auto& worker : workers) worker.join();
  ReadBandwidth result;
  double best = std::numeric_limits<double>::infinity();
  for (int pass = 0; pass < passes; ++pass) {
    const ThreadPass* first = &results[static_cast<std::size_t>(pass) * threads];
    Clock::time_point start = first->start, end = first->end;
    std::uint64_t checksum = 0;
    for (std::size_t t = 0; t < threads; ++t) {
      start = std::min(start, first[t].start);
      end = std::max(end, first[t].end);
      checksum += first[t].sum;
    }
    best = std::min(best, std::chrono::duration<double>(end - start).count());
    result.checksum = checksum;
  }
  result.bytes_per_second = best > 0.0 ? static_cast<double>(words.size_bytes()) / best : 0.0;
  return result;
}

std::size_t bandwidth_probe_bytes() {
  return std::clamp<std::size_t>(4 * last_level_cache_bytes(), std::size_t{256} << 20, std::size_t{1} << 30);
}

double probe_read_bandwidth(std::span<const std::uint64_t> words, std::size_t threads, int passes) {
  return measure_read_bandwidth(words, threads, passes, {ReadLoop::kOneStream, ReadLoop::kEightStreams}).bytes_per_second;
}

double probe_memory_bandwidth(std::size_t threads) {
  std::vector<std::uint64_t> words(bandwidth_probe_bytes() / sizeof(std::uint64_t));
  std::iota(words.begin(), words.end(), std::uint64_t{0});
  return probe_read_bandwidth(words, threads);
}

}  // namespace shardlm
