#include "runtime/kernels/cpu_features.h"

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace shardlm {

namespace {

// The kernel keeps the 8 KB of tile data out of every thread's saved state until the process asks
// for it (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA); a tile instruction before that faults.
bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtileData = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) == 0;
#else
  return false;
#endif
}

CpuFeatures detect_cpu_features() {
  CpuFeatures features;
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's checks also look at XCR0, so a feature whose registers the OS does not save reads false.
  __builtin_cpu_init();
  if (__builtin_cpu_is("intel")) features.vendor = CpuVendor::kIntel;
  if (__builtin_cpu_is("amd")) features.vendor = CpuVendor::kAmd;
  features.avx2 = __builtin_cpu_supports("avx2");
  features.fma = __builtin_cpu_supports("fma");
  features.f16c = __builtin_cpu_supports("f16c");
  features.avx512f = __builtin_cpu_supports("avx512f");
  features.avx512bw = __builtin_cpu_supports("avx512bw");
  features.avx512vl = __builtin_cpu_supports("avx512vl");
  features.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  features.avx512vnni = __builtin_cpu_supports("avx512vnni");
  features.amx_tile = __builtin_cpu_supports("amx-tile");
  features.amx_bf16 = __builtin_cpu_supports("amx-bf16");
  features.amx_int8 = __builtin_cpu_supports("amx-int8");
  features.amx_usable = features.amx_tile && features.amx_bf16 && features.amx_int8 && request_amx_permission();
#endif
  return features;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect_cpu_features();
  return features;
}

}  // namespace shardlm
