#include "features/mel-banks.h"

#include <algorithm>
#include <cmath>

#include "features/errors.h"

namespace ossicle {

namespace {
// Slaney's scale (Auditory Toolbox, as in librosa.hz_to_mel with htk=False): linear below 1 kHz with
// 200/3 Hz per mel, then log-spaced so that 6.4 x the frequency spans 27 mels.
constexpr double kSlaneyHzPerMel = 200.0 / 3.0;
constexpr double kSlaneyMinLogHz = 1000.0;
constexpr double kSlaneyMinLogMel = kSlaneyMinLogHz / kSlaneyHzPerMel;  // 15
const double kSlaneyLogStep = std::log(6.4) / 27.0;
}  // namespace

double HzToMel(double hz, MelScale scale) {
  if (scale == MelScale::kHtk) return 1127.0 * std::log(1.0 + hz / 700.0);
  if (hz < kSlaneyMinLogHz) return hz / kSlaneyHzPerMel;
  return kSlaneyMinLogMel + std::log(hz / kSlaneyMinLogHz) / kSlaneyLogStep;
}

double MelToHz(double mel, MelScale scale) {
  if (scale == MelScale::kHtk) return 700.0 * (std::exp(mel / 1127.0) - 1.0);
  if (mel < kSlaneyMinLogMel) return mel * kSlaneyHzPerMel;
  return kSlaneyMinLogHz * std::exp((mel - kSlaneyMinLogMel) * kSlaneyLogStep);
}

double MelBanksConfig::HighFreqHz(double sample_rate_hz) const {
  const double nyquist = 0.5 * sample_rate_hz;
  return high_freq_hz > 0.0 ? high_freq_hz : nyquist + high_freq_hz;
}

void MelBanksConfig::Validate(double sample_rate_hz, std::string_view path) const {
  const double nyquist = 0.5 * sample_rate_hz;
  if (num_mel_bins < 1 || num_mel_bins > 1024) {
    throw ConfigError(RuleMessage(path, "num_mel_bins", num_mel_bins, "between 1 and 1024"));
  }
  if (!std::isfinite(low_freq_hz) || low_freq_hz < 0.0 || low_freq_hz >= nyquist) {
    throw ConfigError(RuleMessage(path, "low_freq_hz", low_freq_hz,
                                  ">= 0 and below the Nyquist frequency " + FormatValue(nyquist) + " Hz"));
  }
  const double high = HighFreqHz(sample_rate_hz);
  if (!std::isfinite(high_freq_hz) || high <= low_freq_hz || high > nyquist) {
    throw ConfigError(RuleMessage(path, "high_freq_hz", high_freq_hz,
                                  "an upper edge above low_freq_hz and at most Nyquist " +
                                      FormatValue(nyquist) + " Hz (<= 0 counts down from Nyquist)"));
  }
}

MelBanks::MelBanks(const MelBanksConfig& config, double sample_rate_hz, int fft_size)
    : num_fft_bins_(fft_size / 2 + 1) {
  const double low_mel = HzToMel(config.low_freq_hz, config.scale);
  const double high_mel = HzToMel(config.HighFreqHz(sample_rate_hz), config.scale);
  const int n = config.num_mel_bins;
  const double delta = (high_mel - low_mel) / (n + 1);
  const double bin_hz = sample_rate_hz / fft_size;

  // The bin frequencies on the triangles' axis.
  std::vector<double> axis(static_cast<size_t>(num_fft_bins_));
  for (int k = 0; k < num_fft_bins_; ++k) {
    const double hz = k * bin_hz;
    axis[static_cast<size_t>(k)] = config.triangles == MelTriangles::kMel ? HzToMel(hz, config.scale) : hz;
  }
  for (int m = 0; m < n; ++m) {
    const double corners_mel[3] = {low_mel + m * delta, low_mel + (m + 1) * delta, low_mel + (m + 2) * delta};
    double c[3];
    for (int i = 0; i < 3; ++i) {
      c[i] = config.triangles == MelTriangles::kMel ? corners_mel[i] : MelToHz(corners_mel[i], config.scale);
    }
    const double left_hz = MelToHz(corners_mel[0], config.scale);
    const double right_hz = MelToHz(corners_mel[2], config.scale);
    const double scale = config.norm == MelNorm::kSlaney ? 2.0 / (right_hz - left_hz) : 1.0;
    centers_hz_.push_back(MelToHz(corners_mel[1], config.scale));

    Filter f;
    f.first_bin = -1;
    std::vector<double> dense(static_cast<size_t>(num_fft_bins_), 0.0);
    int last = -1;
    for (int k = 0; k < num_fft_bins_; ++k) {
      const double x = axis[static_cast<size_t>(k)];
      // Zero outside the open interval (left, right), as Kaldi's strict comparisons do.
      if (x <= c[0] || x >= c[2]) continue;
      const double up = (x - c[0]) / (c[1] - c[0]);
      const double down = (c[2] - x) / (c[2] - c[1]);
      const double w = std::max(0.0, std::min(up, down)) * scale;
      if (w <= 0.0) continue;
      if (f.first_bin < 0) f.first_bin = k;
      last = k;
      dense[static_cast<size_t>(k)] = w;
    }
    if (f.first_bin < 0) {
      // A filter narrower than one FFT bin: Kaldi and librosa both leave it empty (its log energy is the
      // floor). Keep it empty rather than invent weights.
      f.first_bin = 0;
    } else {
      f.weights.assign(dense.begin() + f.first_bin, dense.begin() + last + 1);
    }
    filters_.push_back(std::move(f));
  }
}

void MelBanks::Compute(std::span<const double> spectrum, std::span<double> out) const {
  for (size_t m = 0; m < filters_.size(); ++m) {
    const Filter& f = filters_[m];
    const double* s = spectrum.data() + f.first_bin;
    double e = 0.0;
    for (size_t i = 0; i < f.weights.size(); ++i) e += f.weights[i] * s[i];
    out[m] = e;
  }
}

std::vector<std::vector<double>> MelBanks::DenseWeights() const {
  std::vector<std::vector<double>> out(filters_.size(), std::vector<double>(static_cast<size_t>(num_fft_bins_)));
  for (size_t m = 0; m < filters_.size(); ++m) {
    for (size_t i = 0; i < filters_[m].weights.size(); ++i) {
      out[m][static_cast<size_t>(filters_[m].first_bin) + i] = filters_[m].weights[i];
    }
  }
  return out;
}

}  // namespace ossicle
