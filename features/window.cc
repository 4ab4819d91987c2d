#include "features/window.h"

#include <cmath>
#include <numbers>
#include <string>

#include "features/errors.h"

namespace ossicle {

std::vector<double> MakeWindow(WindowType type, int length, bool periodic) {
  if (length < 1) throw ConfigError("window length = " + std::to_string(length) + " samples; expected >= 1");
  std::vector<double> w(static_cast<size_t>(length), 1.0);
  if (length == 1) return w;  // every formula below degenerates; a 1-sample window is 1
  const double period = periodic ? length : length - 1;
  const double a = 2.0 * std::numbers::pi / period;
  for (int n = 0; n < length; ++n) {
    const double c = std::cos(a * n);
    double v = 1.0;
    switch (type) {
      case WindowType::kHann: v = 0.5 - 0.5 * c; break;
      case WindowType::kHamming: v = 0.54 - 0.46 * c; break;
      case WindowType::kPovey: v = std::pow(0.5 - 0.5 * c, 0.85); break;
      case WindowType::kBlackman: v = 0.42 - 0.5 * c + 0.08 * std::cos(2.0 * a * n); break;
      case WindowType::kRectangular: v = 1.0; break;
    }
    w[static_cast<size_t>(n)] = v;
  }
  return w;
}

}  // namespace ossicle
