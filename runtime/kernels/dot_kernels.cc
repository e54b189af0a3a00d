#include "runtime/kernels/dot_kernels.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "runtime/kernels/cpu_features.h"

namespace shardlm {

namespace {

bool cpu_runs(std::string_view name) {
  const CpuFeatures& cpu = cpu_features();
  if (name == "scalar") return true;
  if (name == "avx2") return cpu.avx2 && cpu.fma && cpu.f16c;
  if (name == "avx512") return cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.fma && cpu.f16c;
  if (name == "avx512bf16") return cpu_runs("avx512") && cpu.avx512bf16 && cpu.avx512vnni;
  if (name == "amx") return cpu_runs("avx512bf16") && cpu.amx_usable;
  return false;
}

const DotKernels* dot_kernels_named(std::string_view name) {
  if (name == "scalar") return &dot_kernels_scalar();
  if (name == "avx2") return &dot_kernels_avx2();
  if (name == "avx512") return &dot_kernels_avx512();
  if (name == "avx512bf16") return &dot_kernels_avx512bf16();
  if (name == "amx") return &dot_kernels_amx();
  return nullptr;
}

}  // namespace

DotRowsFn DotKernels::dot_rows(DType dtype) const {
  switch (dtype) {
    case DType::F32: return dot_rows_f32;
    case DType::F16: return dot_rows_f16;
    case DType::BF16: return dot_rows_bf16;
  }
  return nullptr;
}

WidenRowsFn DotKernels::widen_rows(DType dtype) const {
  switch (dtype) {
    case DType::F32: return nullptr;
    case DType::F16: return widen_rows_f16;
    case DType::BF16: return widen_rows_bf16;
  }
  return nullptr;
}

DotRowsFn DotKernels::dot_rows(const WeightMatrix& w, bool in_lanes) const {
  if (!w.quantized()) return dot_rows(w.dtype);
  return in_lanes && dot_rows_affine_in_lanes != nullptr ? dot_rows_affine_in_lanes : dot_rows_affine;
}

WidenRowsFn DotKernels::widen_rows(const WeightMatrix& w) const {
  return w.quantized() ? widen_rows_affine : widen_rows(w.dtype);
}

ActivationRounding DotKernels::rounding(const WeightMatrix& w) const {
  return dot_rounding == nullptr ? ActivationRounding::kExact : dot_rounding(w);
}

const DotKernels& dot_kernels_avx512bf16() {
  static const DotKernels kernels = [] {
    DotKernels set = dot_kernels_avx512();
    const DotProductDecodeKernels& decode = dot_product_decode_kernels_avx512();
    set.name = "avx512bf16";
    set.dot_rows_bf16 = decode.dot_rows_bf16;
    set.dot_rows_affine = decode.dot_rows_affine;
    set.dot_rows_affine_in_lanes = decode.dot_rows_affine_in_lanes;
    set.dot_rounding = decode.dot_rounding;
    set.prefill = &prefill_kernels_avx512();
    return set;
  }();
  return kernels;
}

const DotKernels& dot_kernels_amx() {
  static const DotKernels kernels = [] {
    DotKernels set = dot_kernels_avx512bf16();
    set.name = "amx";
    set.prefill = &prefill_kernels_amx();
    return set;
  }();
  return kernels;
}

const DotKernels* dot_kernels_for(std::string_view name) {
  return cpu_runs(name) ? dot_kernels_named(name) : nullptr;
}

const DotKernels& select_dot_kernels(const char* requested) {
  if (requested != nullptr && *requested != '\0') {
    const DotKernels* kernels = dot_kernels_named(requested);
    if (kernels == nullptr) {
      throw std::runtime_error(std::string("SHARDLM_KERNELS=") + requested +
                               ": unknown kernel set (expected scalar, avx2, avx512, avx512bf16 or amx)");
    }
    if (!cpu_runs(requested)) {
      throw std::runtime_error(std::string("SHARDLM_KERNELS=") + requested +
                               ": this CPU does not support that kernel set");
    }
    return *kernels;
  }
  for (const std::string_view name : {"amx", "avx512bf16", "avx512", "avx2"}) {
    if (cpu_runs(name)) return *dot_kernels_named(name);
  }
  return dot_kernels_scalar();
}

const DotKernels& active_dot_kernels() {
  static const DotKernels& kernels = select_dot_kernels(std::getenv("SHARDLM_KERNELS"));
  return kernels;
}

}  // namespace shardlm
