// Per-frame spectral features: FFT -> power/magnitude -> mel energies -> log -> [DCT for MFCC].
#pragma once

#include <complex>
#include <span>
#include <vector>

#include "features/feature-config.h"
#include "features/mel-banks.h"
#include "features/rfft.h"

namespace ossicle {

// Computes one frame of fbank or MFCC from a prepared (windowed, padded) frame. One per stream:
// it owns scratch buffers and is not thread-safe.
class SpectralFeatureComputer {
 public:
  explicit SpectralFeatureComputer(const FeatureConfig& config);

  int Dim() const { return dim_; }
  int FftSize() const { return fft_.Size(); }

  // prepared: FftSize() samples; out: Dim() values.
  void Compute(std::span<const double> prepared, std::span<float> out);

 private:
  FeatureType type_;
  SpectrumType spectrum_type_;
  double log_floor_;
  int dim_;
  RealFft fft_;
  MelBanks mel_;
  std::vector<double> dct_;  // [num_ceps][num_mel_bins], lifter folded in
  std::vector<std::complex<double>> bins_;
  std::vector<double> spectrum_;
  std::vector<double> energies_;
};

}  // namespace ossicle
