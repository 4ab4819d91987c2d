// Front-end configuration: FrameConfig geometry (WindowSamples/ShiftSamples/FftSize, NumFrames, FrameStart),
// FramePreprocessor against numpy, every Validate rule of FrameConfig / MelBanksConfig / MfccConfig /
// CmvnConfig / DeltaConfig reached through FeatureConfig::Validate (message = full key path, value, rule),
// FeatureConfig::Dim, ConfigToString, EnumFromString, and the presets.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iomanip>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "features/errors.h"
#include "features/feature-config.h"
#include "features/frame-extraction.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- geometry -------------------------------------------------------------------------------------------

TEST_CASE("FrameConfig: window, shift and FFT size in samples (Kaldi's int(rate * ms / 1000))", "[features][config]") {
  struct Case {
    double rate;
    int window, shift, fft;
  };
  // 44.1 kHz: 1102.5 -> 1102 and 441 samples; 2048 = next power of two.
  for (const Case& c : {Case{16000.0, 400, 160, 512}, Case{8000.0, 200, 80, 256}, Case{44100.0, 1102, 441, 2048}}) {
    FrameConfig f;
    f.sample_rate_hz = c.rate;
    INFO(c.rate << " Hz");
    CHECK(f.WindowSamples() == c.window);
    CHECK(f.ShiftSamples() == c.shift);
    CHECK(f.FftSize() == c.fft);
    f.fft_size = 4096;
    CHECK(f.FftSize() == 4096);
  }
  FrameConfig f;
  f.frame_length_ms = 32.0;  // exactly 512 samples at 16 kHz: no rounding up
  CHECK(f.WindowSamples() == 512);
  CHECK(f.FftSize() == 512);
}

// Produced by (/usr/bin/python3, numpy 1.24.2), with numpy_logmel.py's kaldi_frame_starts and librosa's
// center=True count 1 + N // hop:
//   import sys; sys.path.insert(0, "tests/data/features")
//   from numpy_logmel import kaldi_frame_starts
//   for N in (0, 399, 400, 559, 560, 16000):
//       print(N, len(kaldi_frame_starts(N, 400, 160, True)), len(kaldi_frame_starts(N, 400, 160, False)), 1 + N // 160)
//   print(kaldi_frame_starts(16000, 400, 160, True)[:3], kaldi_frame_starts(16000, 400, 160, False)[:3])
//   -> [0 160 320] [-120 40 200]; librosa: frame t covers [160 t - 200, 160 t + 200) (window centred in n_fft)
TEST_CASE("NumFrames and FrameStart for every padding (16 kHz, 400/160)", "[features][config]") {
  struct Case {
    int64_t n, snip, kaldi_reflect, center;
  };
  const Case cases[] = {{0, 0, 0, 0},   {399, 0, 2, 3}, {400, 1, 3, 3},
                        {559, 1, 3, 4}, {560, 2, 4, 4}, {16000, 98, 100, 101}};
  FrameConfig f;
  for (const Case& c : cases) {
    INFO(c.n << " samples");
    f.padding = FramePadding::kSnipEdges;
    CHECK(NumFrames(f, c.n) == c.snip);
    f.padding = FramePadding::kKaldiReflect;
    CHECK(NumFrames(f, c.n) == c.kaldi_reflect);
    f.padding = FramePadding::kCenterZero;
    CHECK(NumFrames(f, c.n) == c.center);  // numpy's 1 + N // hop, except that no input gives no frames
    f.padding = FramePadding::kCenterReflect;
    CHECK(NumFrames(f, c.n) == c.center);
  }
  const std::pair<FramePadding, std::vector<int64_t>> starts[] = {
      {FramePadding::kSnipEdges, {0, 160, 320}},
      {FramePadding::kKaldiReflect, {-120, 40, 200}},
      {FramePadding::kCenterZero, {-200, -40, 120}},
      {FramePadding::kCenterReflect, {-200, -40, 120}},
  };
  for (const auto& [padding, want] : starts) {
    f.padding = padding;
    for (int64_t t = 0; t < 3; ++t) {
      INFO(EnumToString(padding) << " frame " << t);
      CHECK(FrameStart(f, t) == want[static_cast<size_t>(t)]);
    }
    // Indices are int64_t and never wrap: frame 10^10 (about 3 years at 100 frames/s).
    const int64_t t = 10'000'000'000;
    CHECK(FrameStart(f, t) - FrameStart(f, t - 1) == 160);
  }
}

// ---- FramePreprocessor ----------------------------------------------------------------------------------

void CheckSamples(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!(std::abs(got[i] - want[i]) <= tol)) {
      ++bad;
      FAIL_CHECK("sample " << i << ": expected " << std::setprecision(17) << want[i] << ", got " << got[i]);
    }
  }
  CHECK(bad == 0);
}

const std::vector<float> kRawFrame = {0.1f, -0.25f, 0.5f, 0.125f, -0.375f, 0.0625f};

// Produced by (/usr/bin/python3, numpy 1.24.2):
//   import numpy as np
//   raw = np.array([0.1, -0.25, 0.5, 0.125, -0.375, 0.0625], dtype=np.float32).astype(np.float64)
//   x = raw * 2.0                                                         # sample_scale 2
//   x = x - x.mean()                                                      # remove_dc_offset
//   y = np.concatenate([[x[0] - 0.97 * x[0]], x[1:] - 0.97 * x[:-1]])    # pre-emphasis 0.97
//   out = np.zeros(8); out[:6] = y * np.hamming(6)                       # symmetric hamming, fft 8
//   print(", ".join(repr(float(v)) for v in out))
// (Hamming rather than Povey: its end points are not 0, so y[0] and the last sample are checked too.)
TEST_CASE("FramePreprocessor: scale, DC removal, pre-emphasis, window, zero padding match numpy",
          "[features][config]") {
  FrameConfig f;
  f.sample_rate_hz = 1000.0;
  f.frame_length_ms = 6.0;
  f.sample_scale = 2.0;
  f.remove_dc_offset = true;
  f.preemphasis_coefficient = 0.97;
  f.window = WindowType::kHamming;
  f.periodic_window = false;
  f.fft_size = 8;
  REQUIRE(f.WindowSamples() == 6);
  FramePreprocessor p(f);
  std::vector<double> out(8, -1.0);
  p.Process(kRawFrame, 0, out);
  CheckSamples(out,
               {0.0003500000059604647, -0.27675592566849616, 1.3530572686406392, -0.65822866875387, -0.395514801020751,
                0.06806999999880792, 0.0, 0.0},
               1e-12);
}

TEST_CASE("FramePreprocessor: with dither on, the same scale / DC / pre-emphasis / window chain runs",
          "[features][config]") {
  // Dither takes its own code path; with a standard deviation of 1e-9 scaled units its noise moves each
  // output by < 1e-7, far below the differences a missing step would make (>= 1e-3 here).
  FrameConfig f;
  f.sample_rate_hz = 1000.0;
  f.frame_length_ms = 6.0;
  f.sample_scale = 2.0;
  f.window = WindowType::kHamming;
  f.fft_size = 8;
  f.dither = 1e-9;
  FramePreprocessor p(f);
  std::vector<double> out(8, -1.0);
  p.Process(kRawFrame, 3, out);
  // The numpy values of the test above (same frame and settings, no dither).
  CheckSamples(out,
               {0.0003500000059604647, -0.27675592566849616, 1.3530572686406392, -0.65822866875387, -0.395514801020751,
                0.06806999999880792, 0.0, 0.0},
               1e-7);
}

// Produced by (/usr/bin/python3, numpy 1.24.2, scipy 1.10.1):
//   import numpy as np, scipy.signal as ss
//   raw = np.array([0.1, -0.25, 0.5, 0.125, -0.375, 0.0625], dtype=np.float32).astype(np.float64)
//   out = np.zeros(16); out[:6] = raw * ss.get_window("hann", 6)   # no DC removal / pre-emphasis, periodic hann
//   print(", ".join(repr(float(v)) for v in out))
TEST_CASE("FramePreprocessor: librosa-style (scale 1, no DC removal, no pre-emphasis, periodic hann) matches numpy",
          "[features][config]") {
  FrameConfig f;
  f.sample_rate_hz = 1000.0;
  f.frame_length_ms = 6.0;
  f.sample_scale = 1.0;
  f.remove_dc_offset = false;
  f.preemphasis_coefficient = 0.0;
  f.window = WindowType::kHann;
  f.periodic_window = true;
  f.fft_size = 16;
  FramePreprocessor p(f);
  std::vector<double> out(16, -1.0);
  p.Process(kRawFrame, 7, out);
  CheckSamples(out,
               {0.0, -0.06249999999999997, 0.375, 0.125, -0.2812500000000001, 0.01562500000000002, 0.0, 0.0, 0.0, 0.0,
                0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
               1e-12);
}

TEST_CASE("FramePreprocessor: dither is Gaussian, depends only on (seed, frame index), and is off at 0",
          "[features][config]") {
  FrameConfig f;
  f.frame_length_ms = 1000.0;  // 16000 samples of noise on a silent frame
  f.sample_scale = 1.0;
  f.remove_dc_offset = false;
  f.preemphasis_coefficient = 0.0;
  f.window = WindowType::kRectangular;
  f.dither = 1.0;
  f.dither_seed = 1234;
  const std::vector<float> silence(16000, 0.0f);
  auto run = [&](const FrameConfig& config, int64_t t) {
    FramePreprocessor p(config);
    std::vector<double> out(static_cast<size_t>(config.FftSize()));
    p.Process(silence, t, out);
    out.resize(16000);
    return out;
  };
  const std::vector<double> a = run(f, 5);
  double sum = 0.0, sum_sq = 0.0;
  for (double v : a) {
    sum += v;
    sum_sq += v * v;
  }
  const double mean = sum / 16000.0, stddev = std::sqrt(sum_sq / 16000.0 - mean * mean);
  INFO("mean " << mean << ", std " << stddev);
  // Standard errors for 16000 samples: 0.008 for the mean, 0.006 for the std; bounds are > 5 sigma.
  CHECK(std::abs(mean) < 0.05);
  CHECK(std::abs(stddev - 1.0) < 0.03);

  CHECK(run(f, 5) == a);  // same (seed, t): same noise, whatever else ran before
  CHECK(run(f, 6) != a);  // another frame
  FrameConfig g = f;
  g.dither_seed = 1235;
  CHECK(run(g, 5) != a);  // another seed
  g.dither = 0.0;
  CHECK(run(g, 5) == std::vector<double>(16000, 0.0));
}

// ---- validation -----------------------------------------------------------------------------------------

struct Rule {
  std::string name;
  std::function<void(FeatureConfig&)> mutate;
  std::string message;  // expected in the ConfigError; the key path is the message's start
};

// Every check(...) and `throw ConfigError` of FrameConfig, MelBanksConfig, FeatureConfig (log floor, MFCC),
// CmvnConfig and DeltaConfig, reached through FeatureConfig::Validate("features").
std::vector<Rule> AllRules() {
  const std::string fft_rule = "; expected 0 (automatic) or an even number >= the window length in samples";
  return {
      // frame.sample_rate_hz
      {"rate low", [](FeatureConfig& c) { c.frame.sample_rate_hz = 999.0; },
       "features.frame.sample_rate_hz = 999; expected between 1000 and 384000"},
      {"rate high", [](FeatureConfig& c) { c.frame.sample_rate_hz = 384001.0; },
       "features.frame.sample_rate_hz = 384001; expected between 1000 and 384000"},
      {"rate nan", [](FeatureConfig& c) { c.frame.sample_rate_hz = kNaN; },
       "features.frame.sample_rate_hz = nan; expected between 1000 and 384000"},
      // frame.frame_length_ms
      {"length 0", [](FeatureConfig& c) { c.frame.frame_length_ms = 0.0; },
       "features.frame.frame_length_ms = 0; expected > 0 and <= 1000"},
      {"length negative", [](FeatureConfig& c) { c.frame.frame_length_ms = -25.0; },
       "features.frame.frame_length_ms = -25; expected > 0 and <= 1000"},
      {"length long", [](FeatureConfig& c) { c.frame.frame_length_ms = 1000.5; },
       "features.frame.frame_length_ms = 1000.5; expected > 0 and <= 1000"},
      {"length inf", [](FeatureConfig& c) { c.frame.frame_length_ms = kInf; },
       "features.frame.frame_length_ms = inf; expected > 0 and <= 1000"},
      {"length 1 sample", [](FeatureConfig& c) { c.frame.frame_length_ms = 0.1; },
       "features.frame.frame_length_ms = 0.1; expected a window of at least 2 samples at sample_rate_hz"},
      // frame.frame_shift_ms
      {"shift 0", [](FeatureConfig& c) { c.frame.frame_shift_ms = 0.0; },
       "features.frame.frame_shift_ms = 0; expected > 0 and <= 1000"},
      {"shift long", [](FeatureConfig& c) { c.frame.frame_shift_ms = 1001.0; },
       "features.frame.frame_shift_ms = 1001; expected > 0 and <= 1000"},
      {"shift nan", [](FeatureConfig& c) { c.frame.frame_shift_ms = kNaN; },
       "features.frame.frame_shift_ms = nan; expected > 0 and <= 1000"},
      {"shift 0 samples", [](FeatureConfig& c) { c.frame.frame_shift_ms = 0.05; },
       "features.frame.frame_shift_ms = 0.05; expected a shift of at least 1 sample at sample_rate_hz"},
      // frame.sample_scale
      {"scale 0", [](FeatureConfig& c) { c.frame.sample_scale = 0.0; },
       "features.frame.sample_scale = 0; expected > 0"},
      {"scale negative", [](FeatureConfig& c) { c.frame.sample_scale = -1.0; },
       "features.frame.sample_scale = -1; expected > 0"},
      {"scale inf", [](FeatureConfig& c) { c.frame.sample_scale = kInf; },
       "features.frame.sample_scale = inf; expected > 0"},
      // frame.dither
      {"dither negative", [](FeatureConfig& c) { c.frame.dither = -0.5; },
       "features.frame.dither = -0.5; expected >= 0"},
      {"dither nan", [](FeatureConfig& c) { c.frame.dither = kNaN; }, "features.frame.dither = nan; expected >= 0"},
      // frame.preemphasis_coefficient
      {"preemphasis negative", [](FeatureConfig& c) { c.frame.preemphasis_coefficient = -0.1; },
       "features.frame.preemphasis_coefficient = -0.1; expected between 0 and 1"},
      {"preemphasis > 1", [](FeatureConfig& c) { c.frame.preemphasis_coefficient = 1.5; },
       "features.frame.preemphasis_coefficient = 1.5; expected between 0 and 1"},
      // frame.fft_size
      {"fft shorter than window", [](FeatureConfig& c) { c.frame.fft_size = 256; },
       "features.frame.fft_size = 256" + fft_rule},
      {"fft odd", [](FeatureConfig& c) { c.frame.fft_size = 401; }, "features.frame.fft_size = 401" + fft_rule},
      {"fft huge", [](FeatureConfig& c) { c.frame.fft_size = (1 << 20) + 2; },
       "features.frame.fft_size = 1048578" + fft_rule},
      {"fft negative", [](FeatureConfig& c) { c.frame.fft_size = -512; }, "features.frame.fft_size = -512" + fft_rule},
      // mel.num_mel_bins, mel.low_freq_hz, mel.high_freq_hz (Nyquist from frame.sample_rate_hz)
      {"mel bins 0", [](FeatureConfig& c) { c.mel.num_mel_bins = 0; },
       "features.mel.num_mel_bins = 0; expected between 1 and 1024"},
      {"mel bins 2000", [](FeatureConfig& c) { c.mel.num_mel_bins = 2000; },
       "features.mel.num_mel_bins = 2000; expected between 1 and 1024"},
      {"mel low negative", [](FeatureConfig& c) { c.mel.low_freq_hz = -20.0; },
       "features.mel.low_freq_hz = -20; expected >= 0 and below the Nyquist frequency 8000 Hz"},
      {"mel low at Nyquist (8 kHz)",
       [](FeatureConfig& c) {
         c.frame.sample_rate_hz = 8000.0;
         c.mel.low_freq_hz = 4000.0;
       },
       "features.mel.low_freq_hz = 4000; expected >= 0 and below the Nyquist frequency 4000 Hz"},
      {"mel high above Nyquist", [](FeatureConfig& c) { c.mel.high_freq_hz = 8001.0; },
       "features.mel.high_freq_hz = 8001; expected an upper edge above low_freq_hz and at most Nyquist 8000 Hz"},
      {"mel high below low",
       [](FeatureConfig& c) {
         c.mel.low_freq_hz = 300.0;
         c.mel.high_freq_hz = 300.0;
       },
       "features.mel.high_freq_hz = 300; expected an upper edge above low_freq_hz"},
      {"mel high counted down below low", [](FeatureConfig& c) { c.mel.high_freq_hz = -7990.0; },
       "features.mel.high_freq_hz = -7990; expected an upper edge above low_freq_hz"},
      // log_floor
      {"log floor 0", [](FeatureConfig& c) { c.log_floor = 0.0; }, "features.log_floor = 0; expected > 0"},
      {"log floor negative", [](FeatureConfig& c) { c.log_floor = -1e-10; },
       "features.log_floor = -1e-10; expected > 0"},
      {"log floor nan", [](FeatureConfig& c) { c.log_floor = kNaN; }, "features.log_floor = nan; expected > 0"},
      // mfcc (checked only when type is mfcc)
      {"ceps 0",
       [](FeatureConfig& c) {
         c.type = FeatureType::kMfcc;
         c.mfcc.num_ceps = 0;
       },
       "features.mfcc.num_ceps = 0; expected between 1 and mel.num_mel_bins (40)"},
      {"ceps > mel bins",
       [](FeatureConfig& c) {
         c.type = FeatureType::kMfcc;
         c.mel.num_mel_bins = 23;
         c.mfcc.num_ceps = 24;
       },
       "features.mfcc.num_ceps = 24; expected between 1 and mel.num_mel_bins (23)"},
      {"lifter negative",
       [](FeatureConfig& c) {
         c.type = FeatureType::kMfcc;
         c.mfcc.cepstral_lifter = -1.0;
       },
       "features.mfcc.cepstral_lifter = -1; expected >= 0"},
      {"lifter nan",
       [](FeatureConfig& c) {
         c.type = FeatureType::kMfcc;
         c.mfcc.cepstral_lifter = kNaN;
       },
       "features.mfcc.cepstral_lifter = nan; expected >= 0"},
      // cmvn
      {"sliding window 0",
       [](FeatureConfig& c) {
         c.cmvn.mode = CmvnMode::kSliding;
         c.cmvn.window_frames = 0;
       },
       "features.cmvn.window_frames = 0; expected between 1 and 1000000 in sliding mode"},
      {"sliding window huge",
       [](FeatureConfig& c) {
         c.cmvn.mode = CmvnMode::kSliding;
         c.cmvn.window_frames = 1000001;
       },
       "features.cmvn.window_frames = 1000001; expected between 1 and 1000000 in sliding mode"},
      {"global without file", [](FeatureConfig& c) { c.cmvn.mode = CmvnMode::kGlobal; },
       "features.cmvn.stats_file = \"\"; expected a statistics file in global mode"},
      // deltas
      {"delta order negative", [](FeatureConfig& c) { c.deltas.order = -1; },
       "features.deltas.order = -1; expected between 0 and 4"},
      {"delta order 5", [](FeatureConfig& c) { c.deltas.order = 5; },
       "features.deltas.order = 5; expected between 0 and 4"},
      {"delta window 0", [](FeatureConfig& c) { c.deltas.window = 0; },
       "features.deltas.window = 0; expected between 1 and 100"},
      {"delta window 101", [](FeatureConfig& c) { c.deltas.window = 101; },
       "features.deltas.window = 101; expected between 1 and 100"},
  };
}

TEST_CASE("FeatureConfig::Validate: each rule's message names the full key path, the value and the rule",
          "[features][config][validate]") {
  REQUIRE_NOTHROW(FeatureConfig{}.Validate());
  for (const Rule& rule : AllRules()) {
    FeatureConfig c;
    rule.mutate(c);
    INFO("rule: " << rule.name);
    // The key path starts the message ("features.frame.frame_length_ms = 0; expected ...").
    const std::string path = rule.message.substr(0, rule.message.find(" = "));
    CHECK_THROWS_MATCHES(c.Validate("features"), ConfigError, HasMessage(rule.message, path + " = "));
    // With the app's empty root path, the message starts at the struct's own key.
    const std::string relative = rule.message.substr(std::string("features.").size());
    CHECK_THROWS_MATCHES(c.Validate(""), ConfigError, HasMessage(relative, relative.substr(0, relative.find(" = "))));
  }
}

TEST_CASE("FeatureConfig::Validate: values at the edge of each rule are accepted", "[features][config][validate]") {
  const std::vector<std::pair<std::string, std::function<void(FeatureConfig&)>>> ok = {
      {"rate 1000",
       [](FeatureConfig& c) {
         c.frame.sample_rate_hz = 1000.0;
         c.mel.low_freq_hz = 0.0;
       }},
      {"rate 384000", [](FeatureConfig& c) { c.frame.sample_rate_hz = 384000.0; }},
      {"length 1000 ms", [](FeatureConfig& c) { c.frame.frame_length_ms = 1000.0; }},
      {"2-sample window", [](FeatureConfig& c) { c.frame.frame_length_ms = 0.125; }},
      {"1-sample shift", [](FeatureConfig& c) { c.frame.frame_shift_ms = 0.0625; }},
      {"preemphasis 0", [](FeatureConfig& c) { c.frame.preemphasis_coefficient = 0.0; }},
      {"preemphasis 1", [](FeatureConfig& c) { c.frame.preemphasis_coefficient = 1.0; }},
      {"fft = window", [](FeatureConfig& c) { c.frame.fft_size = 400; }},
      {"fft 2^20", [](FeatureConfig& c) { c.frame.fft_size = 1 << 20; }},
      {"mel low 0", [](FeatureConfig& c) { c.mel.low_freq_hz = 0.0; }},
      {"mel high = Nyquist", [](FeatureConfig& c) { c.mel.high_freq_hz = 8000.0; }},
      {"ceps = mel bins",
       [](FeatureConfig& c) {
         c.type = FeatureType::kMfcc;
         c.mfcc.num_ceps = c.mel.num_mel_bins;
         c.mfcc.cepstral_lifter = 0.0;
       }},
      {"fbank ignores mfcc",
       [](FeatureConfig& c) {
         c.mfcc.num_ceps = 0;
         c.mfcc.cepstral_lifter = -1.0;
       }},
      {"utterance ignores window",
       [](FeatureConfig& c) {
         c.cmvn.mode = CmvnMode::kUtterance;
         c.cmvn.window_frames = 0;
       }},
      {"global with file",
       [](FeatureConfig& c) {
         c.cmvn.mode = CmvnMode::kGlobal;
         c.cmvn.stats_file = "s.json";
       }},
      {"deltas 4 x 100",
       [](FeatureConfig& c) {
         c.deltas.order = 4;
         c.deltas.window = 100;
       }},
  };
  for (const auto& [name, mutate] : ok) {
    FeatureConfig c;
    mutate(c);
    INFO(name);
    CHECK_NOTHROW(c.Validate());
  }
}

TEST_CASE("Sub-config Validate defaults: FrameConfig uses the path 'frame'", "[features][config][validate]") {
  FrameConfig f;
  f.frame_length_ms = 0.0;
  CHECK_THROWS_MATCHES(f.Validate(), ConfigError,
                       HasMessage("frame.frame_length_ms = 0; expected > 0 and <= 1000", "frame.frame_length_ms = 0"));
}

// ---- dimensions, strings, enums, presets ----------------------------------------------------------------

TEST_CASE("FeatureConfig::Dim counts the deltas", "[features][config]") {
  FeatureConfig c;
  CHECK(c.BaseDim() == 40);
  CHECK(c.Dim() == 40);
  c.deltas.order = 2;
  CHECK(c.Dim() == 120);
  c.type = FeatureType::kMfcc;
  c.mfcc.num_ceps = 13;
  c.deltas.order = 1;
  CHECK(c.BaseDim() == 13);
  CHECK(c.Dim() == 26);
  c.deltas.order = 0;
  CHECK(c.Dim() == 13);
}

TEST_CASE("ConfigToString writes every field, nested structs included", "[features][config]") {
  const std::string s = FeatureConfig{}.ToString();
  INFO(s);
  // Every key of the configuration reference (kept here by hand, so a field dropped from a Fields() list
  // fails this test).
  const char* keys[] = {"type",
                        "frame",
                        "sample_rate_hz",
                        "frame_length_ms",
                        "frame_shift_ms",
                        "padding",
                        "sample_scale",
                        "dither",
                        "dither_seed",
                        "remove_dc_offset",
                        "preemphasis_coefficient",
                        "window",
                        "periodic_window",
                        "fft_size",
                        "spectrum",
                        "mel",
                        "num_mel_bins",
                        "low_freq_hz",
                        "high_freq_hz",
                        "scale",
                        "triangles",
                        "norm",
                        "log_floor",
                        "mfcc",
                        "num_ceps",
                        "cepstral_lifter",
                        "cmvn",
                        "mode",
                        "normalize_variance",
                        "window_frames",
                        "stats_file",
                        "deltas",
                        "order"};
  for (const char* key : keys) {
    INFO("key " << key);
    CHECK(s.find(std::string(key) + ": ") != std::string::npos);
  }
  // Nested structs appear as flow mappings, with their values.
  CHECK(s.rfind("{type: fbank, frame: {sample_rate_hz: 16000, frame_length_ms: 25, frame_shift_ms: 10, "
                "padding: snip_edges, sample_scale: 32768, dither: 0, dither_seed: 0, remove_dc_offset: true, "
                "preemphasis_coefficient: 0.97, window: povey, periodic_window: false, fft_size: 0}, ",
                0) == 0);
  CHECK(s.find("log_floor: 1.192092896e-07") != std::string::npos);
  CHECK(s.find("cmvn: {mode: none, normalize_variance: false, window_frames: 600, stats_file: \"\", "
               "skip_digital_silence: false}") != std::string::npos);
  CHECK(s.find("deltas: {order: 0, window: 2}}") != std::string::npos);

  MelBanksConfig mel;
  mel.num_mel_bins = 80;
  mel.scale = MelScale::kSlaney;
  CHECK(ConfigToString(mel) ==
        "{num_mel_bins: 80, low_freq_hz: 20, high_freq_hz: 0, scale: slaney, triangles: mel, norm: none}");
}

TEST_CASE("EnumFromString accepts exactly the listed names", "[features][config]") {
  CHECK(EnumFromString<FramePadding>("snip_edges") == FramePadding::kSnipEdges);
  CHECK(EnumFromString<FramePadding>("kaldi_reflect") == FramePadding::kKaldiReflect);
  CHECK(EnumFromString<FramePadding>("center_zero") == FramePadding::kCenterZero);
  CHECK(EnumFromString<FramePadding>("center_reflect") == FramePadding::kCenterReflect);
  CHECK(EnumFromString<FeatureType>("mfcc") == FeatureType::kMfcc);
  CHECK(EnumFromString<SpectrumType>("magnitude") == SpectrumType::kMagnitude);
  CHECK_FALSE(EnumFromString<FramePadding>("snip-edges").has_value());
  CHECK_FALSE(EnumFromString<FeatureType>("").has_value());
  CHECK_FALSE(EnumFromString<SpectrumType>("power ").has_value());
  CHECK(EnumChoices<FramePadding>() == "snip_edges|kaldi_reflect|center_zero|center_reflect");
  CHECK(EnumChoices<FeatureType>() == "fbank|mfcc");
  CHECK(EnumChoices<SpectrumType>() == "power|magnitude");
  CHECK(EnumToString(FramePadding::kCenterReflect) == "center_reflect");
  CHECK(EnumToString(static_cast<FramePadding>(99)) == "?");
}

TEST_CASE("FormatValue writes values YAML reads back", "[features][config]") {
  CHECK(FormatValue(true) == "true");
  CHECK(FormatValue(false) == "false");
  CHECK(FormatValue(std::string()) == "\"\"");
  CHECK(FormatValue(std::string("a.json")) == "a.json");
  CHECK(FormatValue(WindowType::kHann) == "hann");
  CHECK(FormatValue(25.0) == "25");
  CHECK(FormatValue(0.97) == "0.97");
  CHECK(FormatValue(-3) == "-3");
  CHECK(RuleMessage("a.b", "c", 0, "> 0") == "a.b.c = 0; expected > 0");
  CHECK(RuleMessage("", "c", 1.5, ">= 2") == "c = 1.5; expected >= 2");
}

TEST_CASE("Presets have the documented values", "[features][config]") {
  SECTION("KaldiFbank: compute-fbank-feats / torchaudio.compliance.kaldi.fbank defaults, dither 0") {
    const FeatureConfig c = FeatureConfig::KaldiFbank();
    CHECK(c.type == FeatureType::kFbank);
    CHECK(c.frame.sample_rate_hz == 16000.0);
    CHECK(c.frame.WindowSamples() == 400);
    CHECK(c.frame.ShiftSamples() == 160);
    CHECK(c.frame.FftSize() == 512);
    CHECK(c.frame.padding == FramePadding::kSnipEdges);
    CHECK(c.frame.sample_scale == 32768.0);
    CHECK(c.frame.dither == 0.0);
    CHECK(c.frame.remove_dc_offset);
    CHECK(c.frame.preemphasis_coefficient == 0.97);
    CHECK(c.frame.window == WindowType::kPovey);
    CHECK_FALSE(c.frame.periodic_window);
    CHECK(c.spectrum == SpectrumType::kPower);
    CHECK(c.mel.num_mel_bins == 40);
    CHECK(c.mel.low_freq_hz == 20.0);
    CHECK(c.mel.HighFreqHz(16000.0) == 8000.0);
    CHECK(c.mel.scale == MelScale::kHtk);
    CHECK(c.mel.triangles == MelTriangles::kMel);
    CHECK(c.mel.norm == MelNorm::kNone);
    CHECK(c.log_floor == 1.1920928955078125e-07);  // FLT_EPSILON = 2^-23
    CHECK(c.cmvn.mode == CmvnMode::kNone);
    CHECK(c.deltas.order == 0);
    CHECK(c.Dim() == 40);
    CHECK(FeatureConfig::KaldiFbank(80).mel.num_mel_bins == 80);
    CHECK_NOTHROW(c.Validate());
  }
  SECTION("LibrosaLogMel: melspectrogram(n_fft=512, hop 160, win 400, hann, center, Slaney), ln(max(E, 1e-10))") {
    const FeatureConfig c = FeatureConfig::LibrosaLogMel();
    CHECK(c.type == FeatureType::kFbank);
    CHECK(c.frame.WindowSamples() == 400);
    CHECK(c.frame.ShiftSamples() == 160);
    CHECK(c.frame.FftSize() == 512);
    CHECK(c.frame.padding == FramePadding::kCenterZero);
    CHECK(c.frame.sample_scale == 1.0);
    CHECK(c.frame.dither == 0.0);
    CHECK_FALSE(c.frame.remove_dc_offset);
    CHECK(c.frame.preemphasis_coefficient == 0.0);
    CHECK(c.frame.window == WindowType::kHann);
    CHECK(c.frame.periodic_window);
    CHECK(c.spectrum == SpectrumType::kPower);
    CHECK(c.mel.num_mel_bins == 40);
    CHECK(c.mel.low_freq_hz == 0.0);
    CHECK(c.mel.HighFreqHz(16000.0) == 8000.0);
    CHECK(c.mel.scale == MelScale::kSlaney);
    CHECK(c.mel.triangles == MelTriangles::kHz);
    CHECK(c.mel.norm == MelNorm::kSlaney);
    CHECK(c.log_floor == 1e-10);
    CHECK(FeatureConfig::LibrosaLogMel(80).mel.num_mel_bins == 80);
    CHECK_NOTHROW(c.Validate());
  }
  SECTION("KaldiMfcc: 13 cepstra of 23 HTK mel bins, lifter 22") {
    const FeatureConfig c = FeatureConfig::KaldiMfcc();
    CHECK(c.type == FeatureType::kMfcc);
    CHECK(c.mel.num_mel_bins == 23);
    CHECK(c.mel.scale == MelScale::kHtk);
    CHECK(c.mfcc.num_ceps == 13);
    CHECK(c.mfcc.cepstral_lifter == 22.0);
    CHECK(c.frame.window == WindowType::kPovey);
    CHECK(c.frame.padding == FramePadding::kSnipEdges);
    CHECK(c.Dim() == 13);
    CHECK(FeatureConfig::KaldiMfcc(20).mfcc.num_ceps == 20);
    CHECK_NOTHROW(c.Validate());
  }
}

}  // namespace
}  // namespace ossicle
