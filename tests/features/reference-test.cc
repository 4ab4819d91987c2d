// Features against the numpy reference (tests/data/features, made by numpy_logmel.py from
// ../shared/reference/features; see the README there):
//   /usr/bin/python3 numpy_logmel.py speech_16k.wav --style kaldi --n-mels 40 -o speech_16k.kaldi40.npy
//   ... --no-snip-edges -> *.kaldi40-nosnip.npy;  --style librosa --n-mels 80 -> *.librosa80.npy
// The reference computes in float64; we compute in float64 and store float32. Tolerance: 1e-3 absolute per
// log coefficient is the bound; see kReferenceTolerance. The observed error is printed as a warning.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "features/feature-config.h"
#include "features/online-features.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/npy-file.h"

namespace ossicle {
namespace {

std::string Data(const std::string& name) { return std::string(OSSICLE_TEST_DATA_DIR) + "/features/" + name; }

// Compares features with a golden .npy; reports the worst element with its index.
void CheckAgainstGolden(const FeatureConfig& config, const std::string& wav, const std::string& golden,
                        double tolerance) {
  AudioReadConfig read;
  read.sample_rate_hz = 0;  // the references are 16 kHz already: no resampling
  const std::vector<float> samples = ReadAudioFile(Data(wav), read);
  const FeatureMatrix got = ComputeFeatures(config, samples);
  const NpyMatrix want = ReadNpy(Data(golden));
  INFO(golden);
  REQUIRE(got.num_frames == want.Rows());
  REQUIRE(got.dim == want.Cols());
  double worst = 0.0;
  int64_t worst_i = 0;
  for (size_t i = 0; i < want.data.size(); ++i) {
    const double d = std::abs(static_cast<double>(got.data[i]) - want.data[i]);
    if (d > worst) {
      worst = d;
      worst_i = static_cast<int64_t>(i);
    }
  }
  INFO("max |diff| " << worst << " at frame " << worst_i / got.dim << " bin " << worst_i % got.dim << ": expected "
                     << want.data[static_cast<size_t>(worst_i)] << ", got " << got.data[static_cast<size_t>(worst_i)]);
  WARN(golden << ": max abs diff " << worst);
  CHECK(worst <= tolerance);
}

// The issue allows 1e-3; computing in double and rounding once to float32 gives ~0 (observed: 0 on all
// 15 goldens), so hold the implementation to the float32 resolution of values around |20|.
constexpr double kReferenceTolerance = 1e-5;
const char* kInputs[] = {"speech_16k", "noise_16k", "tone_16k"};

TEST_CASE("Kaldi-style fbank matches the numpy reference", "[features][reference]") {
  for (const char* in : kInputs) {
    for (int bins : {40, 80}) {
      CheckAgainstGolden(FeatureConfig::KaldiFbank(bins), std::string(in) + ".wav",
                         std::string(in) + ".kaldi" + std::to_string(bins) + ".npy", kReferenceTolerance);
    }
  }
}

TEST_CASE("Kaldi-style fbank without snip-edges matches the numpy reference", "[features][reference]") {
  FeatureConfig c = FeatureConfig::KaldiFbank(40);
  c.frame.padding = FramePadding::kKaldiReflect;
  for (const char* in : kInputs) {
    CheckAgainstGolden(c, std::string(in) + ".wav", std::string(in) + ".kaldi40-nosnip.npy", kReferenceTolerance);
  }
}

TEST_CASE("librosa-style log-mel matches the numpy reference", "[features][reference]") {
  for (const char* in : kInputs) {
    for (int bins : {40, 80}) {
      CheckAgainstGolden(FeatureConfig::LibrosaLogMel(bins), std::string(in) + ".wav",
                         std::string(in) + ".librosa" + std::to_string(bins) + ".npy", kReferenceTolerance);
    }
  }
}

}  // namespace
}  // namespace ossicle
