// Analysis windows applied to each frame before the FFT.
#pragma once

#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

enum class WindowType { kHann, kHamming, kPovey, kBlackman, kRectangular };

template <>
struct EnumNames<WindowType> {
  static constexpr std::array kValues{
      std::pair{WindowType::kHann, std::string_view{"hann"}},
      std::pair{WindowType::kHamming, std::string_view{"hamming"}},
      std::pair{WindowType::kPovey, std::string_view{"povey"}},
      std::pair{WindowType::kBlackman, std::string_view{"blackman"}},
      std::pair{WindowType::kRectangular, std::string_view{"rectangular"}},
  };
};

// Returns `length` window coefficients (length >= 1).
// Symmetric windows use the period length - 1 (Kaldi, numpy.hanning); periodic windows use length
// (scipy.signal.get_window, torch.hann_window, librosa).
//   hann:        0.5 - 0.5 cos(2 pi n / P)
//   hamming:     0.54 - 0.46 cos(2 pi n / P)
//   povey:       hann^0.85 (Kaldi's default; Povey's window has no periodic variant in Kaldi but the
//                same P rule applies here)
//   blackman:    0.42 - 0.5 cos(2 pi n / P) + 0.08 cos(4 pi n / P)   (Kaldi's blackman_coeff 0.42)
//   rectangular: 1
std::vector<double> MakeWindow(WindowType type, int length, bool periodic);

}  // namespace ossicle
