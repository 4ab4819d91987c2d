// Triangular mel filterbanks over the one-sided FFT bins.
#pragma once

#include <array>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

enum class MelScale {
  kHtk,     // mel(f) = 1127 ln(1 + f / 700)  (HTK, Kaldi, librosa htk=True)
  kSlaney,  // linear 3f/200 below 1 kHz, logarithmic above (Auditory Toolbox, librosa default)
};
template <>
struct EnumNames<MelScale> {
  static constexpr std::array kValues{std::pair{MelScale::kHtk, std::string_view{"htk"}},
                                      std::pair{MelScale::kSlaney, std::string_view{"slaney"}}};
};

// The axis on which each triangle is linear.
enum class MelTriangles {
  kMel,  // linear in mel (Kaldi)
  kHz,   // linear in Hz between the mel-spaced corner frequencies (librosa, torchaudio)
};
template <>
struct EnumNames<MelTriangles> {
  static constexpr std::array kValues{std::pair{MelTriangles::kMel, std::string_view{"mel"}},
                                      std::pair{MelTriangles::kHz, std::string_view{"hz"}}};
};

enum class MelNorm {
  kNone,    // peak 1
  kSlaney,  // each triangle scaled by 2 / (right_hz - left_hz): constant energy per channel
};
template <>
struct EnumNames<MelNorm> {
  static constexpr std::array kValues{std::pair{MelNorm::kNone, std::string_view{"none"}},
                                      std::pair{MelNorm::kSlaney, std::string_view{"slaney"}}};
};

struct MelBanksConfig {
  int num_mel_bins = 40;
  double low_freq_hz = 20.0;
  double high_freq_hz = 0.0;  // <= 0: Nyquist + high_freq_hz (Kaldi's convention)
  MelScale scale = MelScale::kHtk;
  MelTriangles triangles = MelTriangles::kMel;
  MelNorm norm = MelNorm::kNone;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"num_mel_bins", "", "number of triangular filters"}, self.num_mel_bins);
    v(FieldInfo{"low_freq_hz", "Hz", "lower edge of the first filter"}, self.low_freq_hz);
    v(FieldInfo{"high_freq_hz", "Hz", "upper edge of the last filter; <= 0 means Nyquist + value"},
      self.high_freq_hz);
    v(FieldInfo{"scale", "", "mel scale formula"}, self.scale);
    v(FieldInfo{"triangles", "", "axis on which the triangles are linear"}, self.triangles);
    v(FieldInfo{"norm", "", "filter normalisation"}, self.norm);
  }

  double HighFreqHz(double sample_rate_hz) const;
  void Validate(double sample_rate_hz, std::string_view path = "mel") const;
};

double HzToMel(double hz, MelScale scale);
double MelToHz(double mel, MelScale scale);

// A filterbank stored sparsely: filter m has weights for bins [first_bin[m], first_bin[m] + size).
class MelBanks {
 public:
  MelBanks(const MelBanksConfig& config, double sample_rate_hz, int fft_size);

  int NumBins() const { return static_cast<int>(filters_.size()); }
  int NumFftBins() const { return num_fft_bins_; }

  // out[m] = sum_k w[m][k] spectrum[k]; spectrum has NumFftBins() = fft_size/2 + 1 values.
  void Compute(std::span<const double> spectrum, std::span<double> out) const;

  // Dense weights [NumBins()][NumFftBins()], for tests and inspection.
  std::vector<std::vector<double>> DenseWeights() const;
  // Centre frequency of each filter in Hz.
  const std::vector<double>& CenterFreqsHz() const { return centers_hz_; }

 private:
  struct Filter {
    int first_bin = 0;
    std::vector<double> weights;
  };
  std::vector<Filter> filters_;
  std::vector<double> centers_hz_;
  int num_fft_bins_ = 0;
};

}  // namespace ossicle
