// Time derivatives (deltas, delta-deltas) of feature frames, Kaldi's add-deltas formulation.
//
// Order-1 regression over +-window frames: d[t] = sum_{n=1..W} n (x[t+n] - x[t-n]) / (2 sum n^2).
// Order i applies that filter i times to the base frames (one wider filter, computed once), with
// frame indices clamped to [0, T-1] at the edges. Output frame: [x, d1, ..., d_order].
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

struct DeltaConfig {
  int order = 0;   // 0: none, 1: deltas, 2: deltas and delta-deltas
  int window = 2;  // W, frames on each side per order

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"order", "", "0 = off, 1 = deltas, 2 = deltas + delta-deltas"}, self.order);
    v(FieldInfo{"window", "frames", "regression half-width per order"}, self.window);
  }
  void Validate(std::string_view path = "deltas") const;
};

class DeltaComputer {
 public:
  explicit DeltaComputer(const DeltaConfig& config);

  int Order() const { return static_cast<int>(scales_.size()) - 1; }
  // Base frames needed on each side of t: order * window.
  int Context() const { return static_cast<int>(scales_.back().size() - 1) / 2; }

  // Writes frame t (dim * (Order() + 1) values) into out. base(s) returns a span of the base frame s,
  // for s in [t - Context(), t + Context()] clamped to [0, num_frames - 1].
  template <class BaseFrame>
  void Compute(int64_t t, int64_t num_frames, int dim, BaseFrame&& base, std::span<float> out) const {
    acc_.resize(static_cast<size_t>(dim) * scales_.size());
    std::fill(acc_.begin(), acc_.end(), 0.0);
    for (size_t i = 0; i < scales_.size(); ++i) {
      const std::vector<double>& s = scales_[i];
      const int64_t offset = static_cast<int64_t>(s.size() - 1) / 2;
      double* a = acc_.data() + i * static_cast<size_t>(dim);
      for (size_t j = 0; j < s.size(); ++j) {
        if (s[j] == 0.0) continue;
        int64_t src = t + static_cast<int64_t>(j) - offset;
        src = src < 0 ? 0 : (src >= num_frames ? num_frames - 1 : src);
        std::span<const float> x = base(src);
        for (int d = 0; d < dim; ++d) a[d] += s[j] * x[static_cast<size_t>(d)];
      }
    }
    for (size_t k = 0; k < acc_.size(); ++k) out[k] = static_cast<float>(acc_[k]);
  }

 private:
  std::vector<std::vector<double>> scales_;  // scales_[i]: filter of order i, size 2 * i * window + 1
  mutable std::vector<double> acc_;
};

}  // namespace ossicle
