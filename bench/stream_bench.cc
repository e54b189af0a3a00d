// shardlm-stream-bench: how much of the memory bandwidth a loop keeps once it computes on what it
// reads. Decode reads every weight once and does a few multiply-adds per byte; whether that arithmetic
// hides behind the memory traffic, or adds to it, bounds how close any decode kernel can come to the
// probe. Each variant streams through a buffer (--mib, each thread its own share, as the probe reads)
// as --streams runs read side by side, doing --ops vector multiply-adds per vector read, with software
// prefetches --prefetch bytes ahead or none; it is timed from memory and from cache (a slice per
// thread that stays in L2). Every pass from memory follows a pass of the probe's plain read over the
// same buffer and counts as its GB/s against that pass's (paired_reads.h). Each figure is the median
// over --rounds, and over the rounds whose plain read was among the slower or the faster half.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/median.h"
#include "bench/paired_reads.h"
#include "bench/tool_main.h"
#include "runtime/system/memory_bandwidth.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm::bench {
namespace {

struct Options {
  std::size_t threads = 2;
  std::size_t mib = 1024;
  std::vector<std::size_t> streams{1, 8};
  std::vector<int> ops{0, 2, 4, 8};
  std::vector<std::size_t> prefetch{0, 2048};
  int rounds = 15;
  std::size_t cache_kib = 256;
};

#if defined(__AVX512BW__)
constexpr std::size_t kVectorBytes = 64;
#elif defined(__AVX2__)
constexpr std::size_t kVectorBytes = 32;
#else
constexpr std::size_t kVectorBytes = 16;
#endif
using Words = std::int16_t __attribute__((vector_size(kVectorBytes)));
constexpr std::size_t kLine = 64;
constexpr std::size_t kVectorsPerLine = kLine / kVectorBytes;
constexpr std::size_t kLinesPerStep = 8;
constexpr std::size_t kStep = kLinesPerStep * kLine;
constexpr std::size_t kAccumulators = 8;

// Tells the compiler that v may have changed, so that each multiply-add is done afresh instead of
// once for all of them.
inline void opaque(Words& v) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("" : "+v"(v));
#else
  asm volatile("" : "+w"(v));
#endif
}

// Reads [p, p + bytes) cut into kStreams equal runs read side by side, kLinesPerStep lines a step (a
// line from each of 8 runs, or 8 consecutive lines of one run). Each vector read gets kOps
// multiply-adds into one of kAccumulators independent sums, so that the arithmetic is limited by
// throughput, as in the decode kernels, not by a chain of latencies. Each line read asks for the line
// prefetch_bytes further on in its run, unless that is 0.
template <std::size_t kStreams, int kOps>
Words stream(const std::byte* p, std::size_t bytes, std::size_t prefetch_bytes) {
  static_assert(kLinesPerStep % kStreams == 0);
  constexpr std::size_t kLinesPerRun = kLinesPerStep / kStreams;
  Words acc[kAccumulators] = {};
  Words factor;
  for (std::size_t i = 0; i < kVectorBytes / sizeof(std::int16_t); ++i) factor[i] = 3;
  opaque(factor);
  const std::size_t run = bytes / kStreams / kStep * kStep;
  for (std::size_t at = 0; at < run; at += kLinesPerRun * kLine) {
    // Unrolled, so that the accumulators stay in registers.
#pragma GCC unroll 8
    for (std::size_t line = 0; line < kLinesPerStep; ++line) {
      const std::byte* src = p + (line % kStreams) * run + at + (line / kStreams) * kLine;
      if (prefetch_bytes != 0) __builtin_prefetch(src + prefetch_bytes, 0, 1);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < kVectorsPerLine; ++v) {
        const std::size_t slot = line * kVectorsPerLine + v;
        Words words;
        std::memcpy(&words, src + v * kVectorBytes, kVectorBytes);
        acc[slot % kAccumulators] += words;
#pragma GCC unroll 16
        for (int k = 0; k < kOps; ++k) {
          opaque(words);
          acc[(slot + static_cast<std::size_t>(k) + 1) % kAccumulators] += words * factor;
        }
      }
    }
  }
  Words sum = {};
  for (const Words& a : acc) sum += a;
  return sum;
}

using StreamFn = Words (*)(const std::byte*, std::size_t, std::size_t);

template <std::size_t kStreams>
StreamFn stream_with_ops(int ops) {
  switch (ops) {
    case 0: return &stream<kStreams, 0>;
    case 1: return &stream<kStreams, 1>;
    case 2: return &stream<kStreams, 2>;
    case 4: return &stream<kStreams, 4>;
    case 6: return &stream<kStreams, 6>;
    case 8: return &stream<kStreams, 8>;
    case 12: return &stream<kStreams, 12>;
    case 16: return &stream<kStreams, 16>;
  }
  throw std::invalid_argument("--ops takes 0, 1, 2, 4, 6, 8, 12 or 16 multiply-adds per vector, not " +
                              std::to_string(ops));
}

StreamFn stream_fn(std::size_t streams, int ops) {
  switch (streams) {
    case 1: return stream_with_ops<1>(ops);
    case 2: return stream_with_ops<2>(ops);
    case 4: return stream_with_ops<4>(ops);
    case 8: return stream_with_ops<8>(ops);
  }
  throw std::invalid_argument("--streams takes 1, 2, 4 or 8 runs a thread, not " + std::to_string(streams));
}

struct Variant {
  std::size_t streams;
  int ops;
  std::size_t prefetch;
  StreamFn fn;
  std::vector<double> cache_gbs, memory_gbs, plain_gbs;
};

int run(const Options& options) {
  ThreadPool pool(options.threads);
  const std::size_t threads = pool.size();
  // Every thread's share cuts into 8 runs of whole steps, and starts on a page.
  constexpr std::size_t kShareUnit = kLinesPerStep * kStep;
  static_assert(kShareUnit % 4096 == 0);
  const std::size_t unit = threads * kShareUnit;
  const std::size_t bytes = std::max(options.mib << 20, bandwidth_probe_bytes()) / unit * unit;
  const std::size_t slice = std::max<std::size_t>(options.cache_kib << 10, kShareUnit) / kShareUnit * kShareUnit;
  // Page-aligned, so that every line read is one cache line: a std::vector's storage starts 16 bytes
  // into one, so that each 64-byte read straddles two, which alone cost 8 runs read side by side
  // without prefetches a third of their speed on the development machine.
  const std::unique_ptr<std::uint64_t[], decltype(&std::free)> storage(
      static_cast<std::uint64_t*>(std::aligned_alloc(4096, bytes)), &std::free);
  if (!storage) throw std::runtime_error("cannot allocate " + std::to_string(bytes >> 20) + " MiB");
  const std::span<std::uint64_t> words(storage.get(), bytes / sizeof(std::uint64_t));
  std::iota(words.begin(), words.end(), std::uint64_t{0});
  const auto* buffer = reinterpret_cast<const std::byte*>(words.data());
  if (threads * slice > bytes) throw std::invalid_argument("--cache-kib slices do not fit in the buffer");

  std::vector<Variant> variants;
  for (std::size_t streams : options.streams) {
    for (std::size_t prefetch : options.prefetch) {
      for (int ops : options.ops) variants.push_back({streams, ops, prefetch, stream_fn(streams, ops), {}, {}, {}});
    }
  }
  // Every thread adds into a slot of its own, so that no pass can be optimised away.
  struct alignas(64) Sink {
    Words value{};
  };
  std::vector<Sink> sinks(threads);
  constexpr int kCachePasses = 100;
  const auto seconds_of = [&](const auto& body) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(threads, [&](std::size_t t, std::size_t) { body(t); });
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const auto gbs = [](double bytes_read, double seconds) { return bytes_read / seconds / 1e9; };
  for (int round = 0; round < options.rounds; ++round) {
    for (Variant& v : variants) {
      const auto from_cache = [&](std::size_t t) {
        for (int pass = 0; pass < kCachePasses; ++pass) sinks[t].value += v.fn(buffer + t * slice, slice, v.prefetch);
      };
      seconds_of(from_cache);
      v.cache_gbs.push_back(gbs(static_cast<double>(threads * slice) * kCachePasses, seconds_of(from_cache)));
      v.plain_gbs.push_back(plain_read_gbs(words, threads));
      v.memory_gbs.push_back(gbs(static_cast<double>(bytes), seconds_of([&](std::size_t t) {
                                   const std::size_t share = bytes / threads;
                                   sinks[t].value += v.fn(buffer + t * share, share, v.prefetch);
                                 })));
    }
  }
  static volatile std::int16_t kept;
  for (const Sink& s : sinks) kept = static_cast<std::int16_t>(kept + s.value[0]);

  std::vector<double> plain;
  for (const Variant& v : variants) plain.insert(plain.end(), v.plain_gbs.begin(), v.plain_gbs.end());
  std::printf("%zu threads, %zu MiB from memory, %zu KiB a thread from cache, %zu-byte vectors, %d rounds; "
              "plain reads %.1f GB/s (median; %.1f-%.1f)\n\n",
              threads, bytes >> 20, slice >> 10, kVectorBytes, options.rounds, median(plain),
              *std::min_element(plain.begin(), plain.end()), *std::max_element(plain.begin(), plain.end()));
  std::printf("| runs a thread | multiply-adds per vector | prefetch bytes ahead | from cache GB/s "
              "| from memory GB/s | vs plain read | slower half | faster half |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Variant& v : variants) {
    const PairedFractions f = paired_fractions(v.memory_gbs, v.plain_gbs);
    std::printf("| %zu | %d | %zu | %.1f | %.1f | %.0f%% | %.0f%% | %.0f%% |\n", v.streams, v.ops, v.prefetch,
                median(v.cache_gbs), median(v.memory_gbs), 100 * f.all, 100 * f.slower, 100 * f.faster);
  }
  return 0;
}

}  // namespace
}  // namespace shardlm::bench

int main(int argc, char** argv) {
  CLI::App app("How much memory bandwidth a streaming loop keeps when it also computes", "shardlm-stream-bench");
  shardlm::bench::Options options;
  app.add_option("--threads", options.threads)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--mib", options.mib, "Buffer read from memory (at least the probe's)")->capture_default_str();
  app.add_option("--streams", options.streams, "Runs a thread reads side by side: 1, 2, 4 or 8")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--ops", options.ops, "Multiply-adds per vector read, e.g. --ops 0,2,4,8")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--prefetch", options.prefetch, "Software prefetch distances in bytes, 0 for none")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--rounds", options.rounds, "Passes of every variant, each after a plain read")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  app.add_option("--cache-kib", options.cache_kib, "Bytes a thread reads from cache")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return shardlm::bench::run_tool("shardlm-stream-bench", [&] { return shardlm::bench::run(options); });
}
