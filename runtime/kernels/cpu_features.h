#pragma once

namespace shardlm {

// Whose CPU: where the same kernels read memory best in different ways (decode_threads.h).
enum class CpuVendor { kIntel, kAmd, kOther };

// Instruction set extensions that both this CPU and the operating system support.
struct CpuFeatures {
  CpuVendor vendor = CpuVendor::kOther;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512bf16 = false;
  bool avx512vnni = false;
  bool amx_tile = false;
  bool amx_bf16 = false;
  bool amx_int8 = false;
  // Linux lets a process use the AMX tiles only once it has asked (arch_prctl); true where the CPU
  // has AMX-BF16 and AMX-INT8 and this process has been given them.
  bool amx_usable = false;
};

// Detected once, on first use.
const CpuFeatures& cpu_features();

}  // namespace shardlm
