// The sensitivities on the embedded model rank modules as the KL increase of quantizing each one alone
// does (everything else in float), and the factored contraction equals the whole gradient's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <numeric>

#include "golden/fixture.h"
#include "grad/dense_model.h"
#include "runtime/data/token_stream.h"
#include "runtime/grad/decoder_gradient.h"
#include "runtime/grad/kl_divergence.h"
#include "runtime/quant/sensitivity_estimate.h"
#include "runtime/text/tokenizer.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

namespace fs = std::filesystem;
using grad::DenseLinear;
using grad::DenseWeights;

fs::path tiny_en() { return testing::fixtures_dir().parent_path().parent_path() / "models" / "tiny-en"; }

std::vector<std::vector<std::int32_t>> heldout_windows(std::size_t seq_len, std::int64_t count) {
  const Tokenizer tokenizer(tiny_en());
  const TokenStream stream = load_token_stream(tiny_en() / "heldout.txt", &tokenizer, 4096);
  std::vector<std::vector<std::int32_t>> windows;
  for (const std::size_t start : choose_windows(stream.ids.size(), seq_len, count, 123, stream.source)) {
    windows.emplace_back(stream.ids.begin() + static_cast<std::ptrdiff_t>(start),
                         stream.ids.begin() + static_cast<std::ptrdiff_t>(start + seq_len));
  }
  return windows;
}

std::vector<double> ranks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> result(values.size());
  for (std::size_t r = 0; r < order.size(); ++r) result[order[r]] = static_cast<double>(r);
  return result;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  const std::vector<double> ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size());
  double d2 = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d2 += (ra[i] - rb[i]) * (ra[i] - rb[i]);
  return 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
}

// The layer a module belongs to, or -1 for the embedding (which a tied model's head reads too).
int layer_of(const std::string& module) {
  if (module.rfind("model.layers.", 0) != 0) return -1;
  return std::atoi(module.c_str() + std::string("model.layers.").size());
}

// KL(float || model with one module at low bits) for every module that takes part, measured with
// the dense forward (each module alone; the others in float), mean over windows and positions.
std::map<std::string, double> measured_kl(const testing::StoredModel& stored, const SensitivitySettings& settings,
                                          const std::vector<std::vector<std::int32_t>>& windows, ThreadPool& pool) {
  const DenseWeights<float> float_weights = stored.dense<float>();
  SensitivityWeights quantized = make_sensitivity_weights(stored.config, stored.slice, stored.weights, settings, pool);
  DenseWeights<float> work = float_weights;
  grad::DecoderGradient<float> model(stored.config, stored.slice, work, pool);
  const auto width = static_cast<std::size_t>(stored.config.hidden_size);
  const auto vocab = static_cast<std::size_t>(stored.config.vocab_size);
  const std::size_t positions = windows.front().size();
  const std::size_t layers = model.layers();

  // The float model's hidden state at every layer's input (and after the last), and its logits.
  std::vector<std::vector<std::vector<float>>> inputs(windows.size());
  std::vector<std::vector<float>> float_logits(windows.size(), std::vector<float>(positions * vocab));
  for (std::size_t w = 0; w < windows.size(); ++w) {
    std::vector<float> hidden(positions * width);
    model.embed(windows[w], hidden.data());
    for (std::size_t l = 0; l < layers; ++l) {
      inputs[w].push_back(hidden);
      model.layer_forward(l, hidden.data(), {1, positions});
    }
    inputs[w].push_back(hidden);
    model.logits(hidden.data(), positions, float_logits[w].data());
  }

  std::vector<DenseLinear<float>*> targets = testing::dense_modules(work);
  std::vector<DenseLinear<float>*> lows = testing::dense_modules(quantized.low);
  std::map<std::string, double> kl;
  std::vector<float> logits(positions * vocab);
  for (std::size_t m = 0; m < targets.size(); ++m) {
    if (!quantized.deltas.contains(targets[m]->module)) continue;
    std::swap(targets[m]->weight.values, lows[m]->weight.values);
    const int layer = layer_of(targets[m]->module);
    double total = 0.0;
    for (std::size_t w = 0; w < windows.size(); ++w) {
      std::vector<float> hidden(positions * width);
      if (layer < 0) {
        model.embed(windows[w], hidden.data());
      } else {
        hidden = inputs[w][static_cast<std::size_t>(layer)];
      }
      for (std::size_t l = static_cast<std::size_t>(std::max(layer, 0)); l < layers; ++l) {
        model.layer_forward(l, hidden.data(), {1, positions});
      }
      model.logits(hidden.data(), positions, logits.data());
      total += grad::kl_divergence_backward(logits.data(), float_logits[w].data(), positions, vocab, 0.0,
                                            logits.data());
    }
    std::swap(targets[m]->weight.values, lows[m]->weight.values);
    kl[targets[m]->module] = total / static_cast<double>(windows.size() * positions);
  }
  return kl;
}

std::size_t quantized_size(const testing::StoredModel& stored, const std::string& module) {
  const int layer = layer_of(module);
  const auto hidden = static_cast<std::size_t>(stored.config.hidden_size);
  if (layer < 0) return static_cast<std::size_t>(stored.config.vocab_size) * hidden;
  const LayerWeights& w = stored.weights.layers[static_cast<std::size_t>(layer)];
  for (const auto& [suffix, linear] : {std::pair{"q_proj", &w.q}, {"k_proj", &w.k}, {"v_proj", &w.v},
                                       {"o_proj", &w.o}, {"gate_proj", &w.gate}, {"up_proj", &w.up},
                                       {"down_proj", &w.down}}) {
    if (module.ends_with(suffix)) return linear->weight.rows * linear->weight.cols;
  }
  return 0;
}

double sensitivity_rank_correlation(const SensitivitySettings& settings, std::size_t seq_len, std::int64_t count) {
  const testing::StoredModel stored(tiny_en());
  ThreadPool pool(2);
  const auto windows = heldout_windows(seq_len, count);
  SensitivityStage stage(stored.config, stored.slice, load_model_weights(stored.folder, stored.config, stored.slice),
                         settings, pool, nullptr);
  stage.run_windows(windows, 0, 1, 1, {});
  const Sensitivities sensitivities = stage.sensitivities();
  const std::map<std::string, double> kl = measured_kl(stored, settings, windows, pool);
  // Like for like: a sensitivity is per million weights, because the bits a module costs scale with its size.
  std::vector<double> a, b, raw;
  for (const auto& [module, value] : kl) {
    a.push_back(sensitivities.at(module));
    b.push_back(value / (static_cast<double>(quantized_size(stored, module)) / 1e6));
    raw.push_back(value);
  }
  EXPECT_EQ(sensitivities.size(), kl.size());
  std::cout << "Spearman(sensitivity, measured KL increase): per million weights " << spearman(a, b)
            << ", of the whole module " << spearman(a, raw) << " (" << count << " windows of " << seq_len
            << " tokens, low " << settings.low.bits << "/" << settings.low.group_size << ", high "
            << settings.high.bits << "/" << settings.high.group_size << ")\n";
  return spearman(a, b);
}

TEST(SensitivityTest, RanksModulesLikeTheirMeasuredKlIncrease) {
  // SHARDLM_SENSITIVITY_WINDOWS=N measures on N windows instead (slower; for the documented figures).
  // It then also measures 4 against 8 bits.
  const char* windows = std::getenv("SHARDLM_SENSITIVITY_WINDOWS");
  const std::int64_t count = windows != nullptr ? std::atoll(windows) : 4;
  EXPECT_GE(sensitivity_rank_correlation({{3, 64}, {4, 64}}, 128, count), 0.7);
  if (windows != nullptr) {
    EXPECT_GE(sensitivity_rank_correlation({{4, 64}, {8, 64}}, 128, count), 0.7);
  }
}

TEST(SensitivityTest, FactoredContractionEqualsTheWholeGradients) {
  const testing::StoredModel stored(tiny_en());
  ThreadPool pool(2);
  const SensitivitySettings settings{{4, 64}, {8, 64}};
  const auto windows = heldout_windows(32, 2);
  SensitivityStage stage(stored.config, stored.slice, load_model_weights(stored.folder, stored.config, stored.slice),
                         settings, pool, nullptr);
  stage.run_windows(windows, 0, 1, 2, {});
  const Sensitivities factored = stage.sensitivities();

  // The same pass with the whole gradients kept, contracted with the deltas afterwards.
  SensitivityWeights weights = make_sensitivity_weights(stored.config, stored.slice, stored.weights, settings, pool);
  Decoder decoder(stored.config, stored.slice, load_model_weights(stored.folder, stored.config, stored.slice), pool);
  grad::DecoderReference reference(decoder);
  grad::DecoderGradient<float> model(stored.config, stored.slice, weights.low, pool);
  grad::KlGradientPass<float> pass(reference, model, nullptr);
  std::vector<grad::MicroBatch> batches;
  for (const auto& window : windows) batches.push_back({window, {1, window.size()}});
  grad::FullGradients<float> gradients;
  pass.run(batches, 1.0 / (2.0 * 32.0), gradients);
  ASSERT_EQ(factored.size(), weights.deltas.size());
  for (const auto& [module, delta] : weights.deltas) {
    SCOPED_TRACE(module);
    const auto& g = gradients.gradients().at(module).values;
    double sum = 0.0;
    for (std::size_t i = 0; i < g.size(); ++i) sum += static_cast<double>(g[i]) * delta.values[i];
    const double expected = sum / (static_cast<double>(g.size()) / 1e6);
    EXPECT_NEAR(factored.at(module), expected, 1e-4 * std::abs(expected) + 1e-9);
  }
}

}  // namespace
}  // namespace shardlm
