#include "launch/cli/sensitivity_estimation.h"

#include <stdexcept>

namespace shardlm::cli {

Sensitivities estimate_sensitivities(const ModelOptions&, const LayoutOptions&, int, const DataOptions&,
                                     const SensitivitySettings&) {
  throw std::runtime_error("sensitivity estimation is not implemented yet");
}

}  // namespace shardlm::cli
