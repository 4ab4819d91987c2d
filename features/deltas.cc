#include "features/deltas.h"

#include "features/errors.h"

namespace ossicle {

void DeltaConfig::Validate(std::string_view path) const {
  if (order < 0 || order > 4) throw ConfigError(RuleMessage(path, "order", order, "between 0 and 4"));
  if (window < 1 || window > 100) throw ConfigError(RuleMessage(path, "window", window, "between 1 and 100"));
}

DeltaComputer::DeltaComputer(const DeltaConfig& config) {
  scales_.push_back({1.0});
  const int w = config.window;
  double normalizer = 0.0;
  for (int j = -w; j <= w; ++j) normalizer += static_cast<double>(j) * j;
  for (int i = 1; i <= config.order; ++i) {
    const std::vector<double>& prev = scales_.back();
    const int prev_offset = static_cast<int>(prev.size() - 1) / 2;
    const int cur_offset = prev_offset + w;
    std::vector<double> cur(prev.size() + 2 * static_cast<size_t>(w), 0.0);
    for (int j = -w; j <= w; ++j) {
      for (int k = -prev_offset; k <= prev_offset; ++k) {
        cur[static_cast<size_t>(j + k + cur_offset)] += j * prev[static_cast<size_t>(k + prev_offset)] / normalizer;
      }
    }
    scales_.push_back(std::move(cur));
  }
}

}  // namespace ossicle
