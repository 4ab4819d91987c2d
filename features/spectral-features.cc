#include "features/spectral-features.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ossicle {

SpectralFeatureComputer::SpectralFeatureComputer(const FeatureConfig& config)
    : type_(config.type),
      spectrum_type_(config.spectrum),
      log_floor_(config.log_floor),
      dim_(config.BaseDim()),
      fft_(config.frame.FftSize()),
      mel_(config.mel, config.frame.sample_rate_hz, config.frame.FftSize()),
      bins_(static_cast<size_t>(fft_.NumBins())),
      spectrum_(static_cast<size_t>(fft_.NumBins())),
      energies_(static_cast<size_t>(config.mel.num_mel_bins)) {
  if (type_ == FeatureType::kMfcc) {
    // Orthonormal DCT-II (scipy.fft.dct(type=2, norm="ortho")): c_i = s_i sum_m x_m cos(pi i (m + 1/2) / M),
    // s_0 = sqrt(1/M), s_i = sqrt(2/M); liftering (HTK, Kaldi) multiplies c_i by 1 + L/2 sin(pi i / L).
    const int m_bins = config.mel.num_mel_bins;
    const double lifter = config.mfcc.cepstral_lifter;
    dct_.resize(static_cast<size_t>(dim_) * m_bins);
    for (int i = 0; i < dim_; ++i) {
      const double s = std::sqrt((i == 0 ? 1.0 : 2.0) / m_bins);
      const double lift = lifter > 0.0 ? 1.0 + 0.5 * lifter * std::sin(std::numbers::pi * i / lifter) : 1.0;
      for (int m = 0; m < m_bins; ++m) {
        dct_[static_cast<size_t>(i) * m_bins + m] = lift * s * std::cos(std::numbers::pi * i * (m + 0.5) / m_bins);
      }
    }
  }
}

void SpectralFeatureComputer::Compute(std::span<const double> prepared, std::span<float> out) {
  fft_.Forward(prepared, bins_);
  if (spectrum_type_ == SpectrumType::kPower) {
    for (size_t k = 0; k < bins_.size(); ++k) spectrum_[k] = std::norm(bins_[k]);
  } else {
    for (size_t k = 0; k < bins_.size(); ++k) spectrum_[k] = std::abs(bins_[k]);
  }
  mel_.Compute(spectrum_, energies_);
  for (double& e : energies_) e = std::log(std::max(e, log_floor_));
  if (type_ == FeatureType::kFbank) {
    for (int m = 0; m < dim_; ++m) out[static_cast<size_t>(m)] = static_cast<float>(energies_[static_cast<size_t>(m)]);
    return;
  }
  const size_t m_bins = energies_.size();
  for (int i = 0; i < dim_; ++i) {
    const double* row = dct_.data() + static_cast<size_t>(i) * m_bins;
    double c = 0.0;
    for (size_t m = 0; m < m_bins; ++m) c += row[m] * energies_[m];
    out[static_cast<size_t>(i)] = static_cast<float>(c);
  }
}

}  // namespace ossicle
