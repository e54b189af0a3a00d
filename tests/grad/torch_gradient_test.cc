// The gradient of the KL loss and the sensitivities against torch autograd on transformers' models
// (tests/fixtures/make_gradient_fixture.py, written to tests/fixtures/gradient).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "golden/fixture.h"
#include "grad/dense_model.h"
#include "runtime/grad/kl_gradient_pass.h"
#include "runtime/grad/reference_stage.h"
#include "runtime/io/json_file.h"
#include "runtime/io/safetensors.h"
#include "runtime/model/decoder.h"
#include "runtime/quant/sensitivity_estimate.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm::grad {
namespace {

namespace fs = std::filesystem;

std::vector<float> f32_tensor(const SafetensorsFile& file, const std::string& name) {
  const TensorEntry* entry = file.find(name);
  if (entry == nullptr || entry->type != StorageType::F32) {
    throw std::runtime_error("'" + file.path().string() + "' has no f32 tensor '" + name + "'");
  }
  std::vector<float> values(static_cast<std::size_t>(entry->numel()));
  std::memcpy(values.data(), entry->data, values.size() * sizeof(float));
  return values;
}

struct Fixture {
  explicit Fixture(const fs::path& dir)
      : reference(read_json_file(dir / "reference.json")),
        low(dir / "low.safetensors"),
        gradients(dir / "gradients.safetensors") {
    for (const auto& window : reference["windows"]) windows.push_back(window.get<std::vector<std::int32_t>>());
    settings.low = {reference["low"]["bits"].get<int>(), reference["low"]["group_size"].get<int>()};
    settings.high = {reference["high"]["bits"].get<int>(), reference["high"]["group_size"].get<int>()};
  }

  nlohmann::json reference;
  SafetensorsFile low;
  SafetensorsFile gradients;
  std::vector<std::vector<std::int32_t>> windows;
  SensitivitySettings settings;
};

class TorchGradientTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::fixtures_dir() / "gradient" / GetParam();
    if (!fs::exists(dir_ / "reference.json")) {
      FAIL() << dir_ << " is missing: python3 tests/fixtures/make_gradient_fixture.py --out "
                   << "tests/fixtures/gradient (on a machine with torch and transformers)";
    }
  }
  fs::path dir_;
};

double norm(const std::vector<double>& v) {
  double sum = 0.0;
  for (const double x : v) sum += x * x;
  return std::sqrt(sum);
}

TEST_P(TorchGradientTest, GradientOfTheKlLossMatchesAutograd) {
  const Fixture fixture(dir_);
  const testing::StoredModel stored(dir_ / "model");
  ThreadPool pool(2);
  // The production path: the engine's decoder on the stored float weights as the reference, the
  // fixture's low weights (quantized by NumPy) as the point of the gradient.
  Decoder decoder(stored.config, stored.slice, load_model_weights(stored.folder, stored.config, stored.slice), pool);
  DecoderReference reference(decoder);
  const DenseWeights<float> low = stored.dense<float>([&](const std::string& module, const WeightMatrix&) {
    return f32_tensor(fixture.low, module + ".weight");
  });
  DecoderGradient<float> model(stored.config, stored.slice, low, pool);
  KlGradientPass<float> pass(reference, model, nullptr);
  std::vector<MicroBatch> batches;
  for (const auto& window : fixture.windows) batches.push_back({window, {1, window.size()}});
  FullGradients<float> gradients;
  const double row_weight = 1.0 / static_cast<double>(fixture.windows.size() * fixture.windows.front().size());
  const double loss = pass.run(batches, row_weight, gradients);
  EXPECT_NEAR(loss, fixture.reference["loss"].get<double>(), 1e-4 * fixture.reference["loss"].get<double>());

  std::size_t checked = 0;
  for (const auto& [name, entry] : fixture.gradients.tensors()) {
    const std::string module = name.substr(0, name.size() - std::string(".weight").size());
    SCOPED_TRACE(module);
    ASSERT_TRUE(gradients.gradients().contains(module));
    const std::vector<float> expected = f32_tensor(fixture.gradients, name);
    const std::vector<float>& got = gradients.gradients().at(module).values;
    ASSERT_EQ(got.size(), expected.size());
    std::vector<double> difference(got.size()), reference_values(got.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      difference[i] = static_cast<double>(got[i]) - expected[i];
      reference_values[i] = expected[i];
    }
    EXPECT_LT(norm(difference) / norm(reference_values), 1e-3);
    ++checked;
  }
  EXPECT_EQ(checked, gradients.gradients().size());
}

TEST_P(TorchGradientTest, SensitivitiesMatchTheReference) {
  const Fixture fixture(dir_);
  const testing::StoredModel stored(dir_ / "model");
  ThreadPool pool(2);
  // Our own quantizer this time, from the float weights, against NumPy's.
  SensitivityStage stage(stored.config, stored.slice, load_model_weights(stored.folder, stored.config, stored.slice),
                         fixture.settings, pool, nullptr);
  stage.run_windows(fixture.windows, 0, 1, 1, {});
  const Sensitivities got = stage.sensitivities();
  const auto& expected = fixture.reference["sensitivities"];
  double largest = 0.0;
  for (const auto& [module, value] : expected.items()) largest = std::max(largest, std::abs(value.get<double>()));
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [module, value] : expected.items()) {
    SCOPED_TRACE(module);
    ASSERT_TRUE(got.contains(module));
    EXPECT_NEAR(got.at(module), value.get<double>(), 1e-3 * std::abs(value.get<double>()) + 1e-4 * largest);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, TorchGradientTest, ::testing::Values("llama", "qwen2", "qwen3", "mistral"));

}  // namespace
}  // namespace shardlm::grad
