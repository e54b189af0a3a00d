// F16 weights: no transformers fixture is stored in f16, so the f16 path is checked against the same
// weights rounded to f16 but stored as f32, which the golden tests cover.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "golden/fixture.h"
#include "runtime/engine/local_model.h"
#include "runtime/io/model_folder.h"
#include "runtime/io/safetensors_writer.h"
#include "runtime/temp_dir.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;

// Copies the fixture with every weight rounded to f16, stored either as F16 or widened back to F32.
void write_rounded_copy(const fs::path& source, const fs::path& target, bool store_f16) {
  fs::create_directories(target);
  for (const char* file : {"config.json", "tokenizer.model"}) fs::copy(source / file, target / file);
  const ModelFolder folder(source);
  SafetensorsWriter writer;
  for (const auto& [name, entry] : folder.tensors()) {
    const auto* values = reinterpret_cast<const float*>(entry->data);
    const auto count = static_cast<std::size_t>(entry->numel());
    std::vector<std::byte> bytes(count * (store_f16 ? 2 : 4));
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint16_t half = f32_to_f16(values[i]);
      if (store_f16) {
        std::memcpy(bytes.data() + 2 * i, &half, 2);
      } else {
        const float widened = f16_to_f32(half);
        std::memcpy(bytes.data() + 4 * i, &widened, 4);
      }
    }
    writer.add(name, store_f16 ? StorageType::F16 : StorageType::F32, entry->shape, std::move(bytes));
  }
  writer.write(target / "model.safetensors");
}

TEST(F16WeightsTest, ComputeLikeTheSameValuesStoredAsF32) {
  const auto golden = testing::load_golden_fixture("qwen2_f32");
  testing::TempDir dir;
  write_rounded_copy(golden.dir, dir.path() / "f16", true);
  write_rounded_copy(golden.dir, dir.path() / "f32", false);
  const auto f16 = testing::prompt_logits(dir.path() / "f16", golden.prompt_ids);
  const auto f32 = testing::prompt_logits(dir.path() / "f32", golden.prompt_ids);
  ASSERT_EQ(f16.size(), f32.size());
  double max_error = 0.0;
  double max_shift = 0.0;
  for (std::size_t i = 0; i < f16.size(); ++i) {
    max_error = std::max(max_error, std::abs(static_cast<double>(f16[i]) - f32[i]));
    max_shift = std::max(max_shift, std::abs(static_cast<double>(f16[i]) - golden.logits[i]));
  }
  EXPECT_LE(max_error, 1e-4 * golden.logits_std);
  // Rounding to f16 does move the logits a little: the comparison above is not vacuous.
  EXPECT_GT(max_shift, 1e-4 * golden.logits_std);
}

}  // namespace
}  // namespace shardlm
