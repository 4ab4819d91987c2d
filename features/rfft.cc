#include "features/rfft.h"

#include <stdexcept>
#include <string>
#include <unsupported/Eigen/FFT>

#include "features/errors.h"

namespace ossicle {

struct RealFft::Impl {
  mutable Eigen::FFT<double> fft;  // kissfft backend; caches twiddles and scratch per size
};

RealFft::RealFft(int size) : size_(size), impl_(std::make_unique<Impl>()) {
  if (size < 2 || size % 2 != 0) {
    throw ConfigError("fft size = " + std::to_string(size) + "; expected an even number >= 2");
  }
  impl_->fft.SetFlag(Eigen::FFT<double>::HalfSpectrum);  // only the NumBins() non-redundant bins
}

RealFft::~RealFft() = default;
RealFft::RealFft(RealFft&&) noexcept = default;
RealFft& RealFft::operator=(RealFft&&) noexcept = default;

void RealFft::Forward(std::span<const double> in, std::span<std::complex<double>> out) const {
  if (static_cast<int>(in.size()) != size_ || static_cast<int>(out.size()) != NumBins()) {
    throw std::invalid_argument("RealFft::Forward: wrong buffer sizes");
  }
  impl_->fft.fwd(out.data(), in.data(), size_);
}

void RealFft::Inverse(std::span<const std::complex<double>> in, std::span<double> out) const {
  if (static_cast<int>(in.size()) != NumBins() || static_cast<int>(out.size()) != size_) {
    throw std::invalid_argument("RealFft::Inverse: wrong buffer sizes");
  }
  impl_->fft.inv(out.data(), in.data(), size_);  // scaled by 1 / N (Eigen's default)
}

int RoundUpToPowerOfTwo(int n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace ossicle
