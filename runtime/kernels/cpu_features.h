#pragma once

namespace shardlm {

// Instruction set extensions that both this CPU and the operating system support.
struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512bf16 = false;
  bool avx512vnni = false;
  bool amx_tile = false;
};

// Detected once, on first use.
const CpuFeatures& cpu_features();

}  // namespace shardlm
