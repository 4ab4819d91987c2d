// The complete front-end configuration: framing, spectrum, mel banks, MFCC, CMVN and deltas.
//
// Processing order for every frame: scale -> dither -> DC removal -> pre-emphasis -> window -> FFT ->
// power (or magnitude) -> mel energies -> ln(max(E, log_floor)) -> [MFCC: DCT-II + lifter] ->
// [CMVN] -> [deltas appended]. Output dimension: Dim().
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <utility>

#include "features/cmvn.h"
#include "features/config-fields.h"
#include "features/deltas.h"
#include "features/frame-extraction.h"
#include "features/mel-banks.h"

namespace ossicle {

enum class FeatureType {
  kFbank,  // log mel filterbank energies, num_mel_bins per frame
  kMfcc,   // mel-frequency cepstral coefficients, num_ceps per frame
};
template <>
struct EnumNames<FeatureType> {
  static constexpr std::array kValues{std::pair{FeatureType::kFbank, std::string_view{"fbank"}},
                                      std::pair{FeatureType::kMfcc, std::string_view{"mfcc"}}};
};

enum class SpectrumType { kPower, kMagnitude };
template <>
struct EnumNames<SpectrumType> {
  static constexpr std::array kValues{std::pair{SpectrumType::kPower, std::string_view{"power"}},
                                      std::pair{SpectrumType::kMagnitude, std::string_view{"magnitude"}}};
};

struct MfccConfig {
  int num_ceps = 13;              // keeps c0..c(num_ceps-1) of the orthonormal DCT-II
  double cepstral_lifter = 22.0;  // c[i] *= 1 + L/2 sin(pi i / L); 0 disables

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"num_ceps", "", "cepstral coefficients kept (c0 included)"}, self.num_ceps);
    v(FieldInfo{"cepstral_lifter", "", "liftering coefficient L (0 = off)"}, self.cepstral_lifter);
  }
};

struct FeatureConfig {
  FeatureType type = FeatureType::kFbank;
  FrameConfig frame;
  SpectrumType spectrum = SpectrumType::kPower;
  MelBanksConfig mel;
  double log_floor = 1.1920928955078125e-07;  // FLT_EPSILON, Kaldi's floor; librosa-style uses 1e-10
  MfccConfig mfcc;
  CmvnConfig cmvn;
  DeltaConfig deltas;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"type", "", "feature kind"}, self.type);
    v(FieldInfo{"frame", "", "framing and per-frame processing"}, self.frame);
    v(FieldInfo{"spectrum", "", "power |X|^2 or magnitude |X|"}, self.spectrum);
    v(FieldInfo{"mel", "", "mel filterbank"}, self.mel);
    v(FieldInfo{"log_floor", "", "energies are floored at this value before ln"}, self.log_floor);
    v(FieldInfo{"mfcc", "", "cepstra (used when type is mfcc)"}, self.mfcc);
    v(FieldInfo{"cmvn", "", "mean and variance normalisation"}, self.cmvn);
    v(FieldInfo{"deltas", "", "time derivatives appended to each frame"}, self.deltas);
  }

  // Values per output frame.
  int BaseDim() const { return type == FeatureType::kMfcc ? mfcc.num_ceps : mel.num_mel_bins; }
  int Dim() const { return BaseDim() * (deltas.order + 1); }

  void Validate(std::string_view path = "features") const;
  std::string ToString() const { return ConfigToString(*this); }

  // Kaldi compute-fbank-feats / torchaudio.compliance.kaldi.fbank defaults with dither 0.
  static FeatureConfig KaldiFbank(int num_mel_bins = 40);
  // librosa.feature.melspectrogram(n_fft=512, hop 160, win 400, hann, center, Slaney) then ln(max(E, 1e-10)).
  static FeatureConfig LibrosaLogMel(int num_mel_bins = 40);
  // Kaldi-style MFCC: 13 cepstra of 23 HTK mel bins, lifter 22.
  static FeatureConfig KaldiMfcc(int num_ceps = 13);
};

}  // namespace ossicle
