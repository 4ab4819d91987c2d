// Real-input FFT in double precision. The only file in ossicle that includes an FFT library.
//
// Backend: Eigen's FFT module with its default backend, a templated C++ port of KissFFT
// (unsupported/Eigen/FFT, ei_kissfft_impl.h), instantiated for double. Debian's libkissfft ships only the
// float build, and float32 arithmetic is not enough for the front end's accuracy contract: on a pure
// 440 Hz tone the mel bins 130 dB below the peak came out up to 8e-3 (log units) off the float64
// reference (tests/features/reference-test.cc), against a bound of 1e-3. In double they match to ~1e-6.
#pragma once

#include <complex>
#include <memory>
#include <span>

namespace ossicle {

class RealFft {
 public:
  // size must be even and >= 2.
  explicit RealFft(int size);
  ~RealFft();
  RealFft(RealFft&&) noexcept;
  RealFft& operator=(RealFft&&) noexcept;
  RealFft(const RealFft&) = delete;
  RealFft& operator=(const RealFft&) = delete;

  int Size() const { return size_; }
  int NumBins() const { return size_ / 2 + 1; }

  // in: Size() samples; out: NumBins() bins X[k] = sum_n x[n] exp(-2 pi i k n / N), unscaled.
  // Not thread-safe per object (the backend keeps scratch buffers); use one RealFft per thread.
  void Forward(std::span<const double> in, std::span<std::complex<double>> out) const;
  // The inverse: in: NumBins() bins of a real signal's spectrum; out: Size() samples x[n] = (1/N) sum_k X[k]
  // exp(2 pi i k n / N) over the whole (Hermitian) spectrum, so Inverse(Forward(x)) == x.
  void Inverse(std::span<const std::complex<double>> in, std::span<double> out) const;

 private:
  struct Impl;
  int size_ = 0;
  std::unique_ptr<Impl> impl_;
};

// Smallest power of two >= n (n >= 1).
int RoundUpToPowerOfTwo(int n);

}  // namespace ossicle
