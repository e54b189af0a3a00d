#include "runtime/kernels/cpu_features.h"

namespace shardlm {

namespace {

CpuFeatures detect_cpu_features() {
  CpuFeatures features;
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's checks also look at XCR0, so a feature whose registers the OS does not save reads false.
  __builtin_cpu_init();
  features.avx2 = __builtin_cpu_supports("avx2");
  features.fma = __builtin_cpu_supports("fma");
  features.f16c = __builtin_cpu_supports("f16c");
  features.avx512f = __builtin_cpu_supports("avx512f");
  features.avx512bw = __builtin_cpu_supports("avx512bw");
  features.avx512vl = __builtin_cpu_supports("avx512vl");
  features.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  features.avx512vnni = __builtin_cpu_supports("avx512vnni");
  features.amx_tile = __builtin_cpu_supports("amx-tile");
#endif
  return features;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect_cpu_features();
  return features;
}

}  // namespace shardlm
