#include "pipeline/augmentation.h"

#include <sndfile.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "features/errors.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;
using test::ScopedTempDir;

std::vector<float> Sine(int64_t n, double freq_hz, double rate_hz, double amplitude) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<size_t>(i)] =
        static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * freq_hz * static_cast<double>(i) / rate_hz));
  }
  return x;
}

// Sign changes, ignoring exact zeros: a sine of f Hz over d seconds has about 2 f d.
int64_t ZeroCrossings(const std::vector<float>& x) {
  int64_t n = 0;
  for (size_t i = 1; i < x.size(); ++i) n += (x[i - 1] < 0) != (x[i] < 0);
  return n;
}

double Db(double ratio) { return 10.0 * std::log10(ratio); }

double Lag1Correlation(const std::vector<float>& x) {
  double num = 0, den = 0;
  for (size_t i = 0; i + 1 < x.size(); ++i) num += static_cast<double>(x[i]) * x[i + 1];
  for (float v : x) den += static_cast<double>(v) * v;
  return num / den;
}

TEST_CASE("augmentation: random numbers are fixed by the seed", "[augmentation]") {
  // std::mt19937_64's first output for its default seed 5489 is 14514284786278117030 (the C++ standard
  // fixes the engine); (x >> 11) * 2^-53 = 0.7868209548678019 (python3: (14514284786278117030 >> 11) * 2**-53).
  std::mt19937_64 rng;
  CHECK(Uniform01(rng) == 0.7868209548678019);
  std::mt19937_64 a(7), b(7);
  for (int i = 0; i < 100; ++i) CHECK(StandardNormal(a) == StandardNormal(b));
  UniformRange r{2.0, 3.0};
  for (int i = 0; i < 1000; ++i) {
    const double v = UniformIn(r, a);
    REQUIRE(v >= 2.0);
    REQUIRE(v <= 3.0);
  }
}

TEST_CASE("augmentation: noise is mixed at the requested SNR", "[augmentation]") {
  const std::vector<float> clean = Sine(16000, 440, 16000, 0.3);
  std::mt19937_64 rng(1);
  for (double snr : {-5.0, 0.0, 10.0, 23.5}) {
    for (int kind = 0; kind < 2; ++kind) {
      const std::vector<float> noise = kind == 0 ? WhiteNoise(16000, rng) : PinkNoise(16000, rng);
      std::vector<float> mixed = clean;
      const double scale = MixAtSnr(mixed, noise, snr);
      REQUIRE(scale > 0);
      std::vector<float> added(mixed.size());
      for (size_t i = 0; i < mixed.size(); ++i) added[i] = mixed[i] - clean[i];
      INFO("snr " << snr << " kind " << kind);
      CHECK(Db(MeanPower(clean) / MeanPower(added)) == Approx(snr).margin(0.1));
    }
  }
  SECTION("a silent signal or silent noise adds nothing") {
    std::vector<float> silent(100, 0.0f);
    const std::vector<float> noise = WhiteNoise(100, rng);
    CHECK(MixAtSnr(silent, noise, 10) == 0.0);
    CHECK(MeanPower(silent) == 0.0);
    std::vector<float> x = clean;
    CHECK(MixAtSnr(x, std::vector<float>(x.size(), 0.0f), 10) == 0.0);
    CHECK(x == clean);
  }
  SECTION("a noise of another length is refused") {
    std::vector<float> x(10, 0.5f);
    CHECK_THROWS_MATCHES(MixAtSnr(x, std::vector<float>(9, 0.1f), 0), ConfigError,
                         HasMessage("noise has 9 samples; expected 10"));
  }
}

TEST_CASE("augmentation: white and pink noise have unit variance, pink is low-pass", "[augmentation]") {
  std::mt19937_64 rng(3);
  const std::vector<float> white = WhiteNoise(200000, rng);
  const std::vector<float> pink = PinkNoise(200000, rng);
  CHECK(MeanPower(white) == Approx(1.0).margin(0.02));
  // Every pink sample has variance 1, but the slow rows barely change within one clip, so the power of
  // one clip varies a lot: average over many independent clips instead.
  double pink_power = 0;
  for (int clip = 0; clip < 400; ++clip) pink_power += MeanPower(PinkNoise(2000, rng)) / 400;
  CHECK(pink_power == Approx(1.0).margin(0.05));
  // White noise is uncorrelated from sample to sample; 1/f noise is dominated by slow components.
  CHECK(std::abs(Lag1Correlation(white)) < 0.01);
  CHECK(Lag1Correlation(pink) > 0.5);
}

TEST_CASE("augmentation: gain, shift and speed", "[augmentation]") {
  SECTION("gain in dB") {
    std::vector<float> x = Sine(1000, 100, 16000, 0.25);
    const double before = MeanPower(x);
    ApplyGainDb(x, 6.0);
    CHECK(Db(MeanPower(x) / before) == Approx(6.0).margin(1e-4));
    ApplyGainDb(x, -20.0);
    CHECK(Db(MeanPower(x) / before) == Approx(-14.0).margin(1e-4));
  }
  SECTION("shift keeps the length and fills with zeros") {
    std::vector<float> x = {1, 2, 3, 4, 5};
    ShiftSamples(x, 2);
    CHECK(x == std::vector<float>{0, 0, 1, 2, 3});
    x = {1, 2, 3, 4, 5};
    ShiftSamples(x, -1);
    CHECK(x == std::vector<float>{2, 3, 4, 5, 0});
    x = {1, 2, 3};
    ShiftSamples(x, 7);
    CHECK(x == std::vector<float>{0, 0, 0});
    x = {1, 2, 3};
    ShiftSamples(x, -3);
    CHECK(x == std::vector<float>{0, 0, 0});
  }
  SECTION("speed changes the duration by the factor and the frequency with it") {
    const std::vector<float> x = Sine(16000, 440, 16000, 0.5);
    for (double factor : {0.8, 0.9, 1.1, 1.25}) {
      const std::vector<float> y = ChangeSpeed(x, factor);
      INFO("factor " << factor);
      CHECK(static_cast<int64_t>(y.size()) == std::llround(16000 / factor));
      // The same number of periods in 1 / factor of the time: the crossing count stays ~880.
      CHECK(ZeroCrossings(y) == Approx(880).margin(3));
      CHECK(MeanPower(y) == Approx(0.125).epsilon(0.02));
    }
    CHECK_THROWS_MATCHES(ChangeSpeed(x, 3.0), ConfigError, HasMessage("augmentation.speed.factor = 3"));
  }
}

// Power of the x[k] * e^{-i 2 pi f k / rate} sum, normalised: the share of a pure tone's power at f.
double TonePower(const std::vector<float>& x, double freq_hz, double rate_hz) {
  double re = 0, im = 0;
  for (size_t k = 0; k < x.size(); ++k) {
    const double phase = 2 * std::numbers::pi * freq_hz * static_cast<double>(k) / rate_hz;
    re += x[k] * std::cos(phase);
    im -= x[k] * std::sin(phase);
  }
  const double n = static_cast<double>(x.size());
  return 2.0 * (re * re + im * im) / (n * n);  // a sine of amplitude a gives a^2 / 2
}

TEST_CASE("augmentation: band limit removes what lies above half the rate it passes through", "[augmentation]") {
  // 1 kHz + 6 kHz at 16 kHz through 8 kHz: the 1 kHz tone stays, the 6 kHz one (above 4 kHz) goes.
  std::vector<float> x = Sine(16000, 1000, 16000, 0.3);
  const std::vector<float> high = Sine(16000, 6000, 16000, 0.3);
  for (size_t k = 0; k < x.size(); ++k) x[k] += high[k];
  const std::vector<float> y = BandLimit(x, 16000, 8000);
  REQUIRE(y.size() == x.size());
  CHECK(TonePower(x, 6000, 16000) == Approx(0.045).epsilon(0.01));
  CHECK(TonePower(y, 1000, 16000) == Approx(0.045).epsilon(0.02));
  CHECK(TonePower(y, 6000, 16000) < 1e-6);
  // At or above the signal's own rate nothing changes.
  CHECK(BandLimit(x, 16000, 16000) == x);
  CHECK(BandLimit(x, 16000, 22050) == x);
  CHECK(BandLimit(std::vector<float>{}, 16000, 8000).empty());

  // Through the Augmenter (probability 1): the same as BandLimit at the drawn rate.
  AugmentationConfig config;
  config.band_limit.probability = 1;
  config.band_limit.sample_rate_hz = {8000, 8000};
  CHECK(config.AnyWaveform());
  Augmenter aug(config, 16000);
  std::vector<float> z = x;
  std::mt19937_64 rng(1);
  aug.ApplyToWaveform(z, rng);
  CHECK(z == y);
}

TEST_CASE("augmentation: a band limit or reverb with probability 0 draws no random number", "[augmentation]") {
  // Configurations written before band_limit and reverb existed keep their random sequence.
  AugmentationConfig config;
  config.gain.probability = 1;
  Augmenter aug(config, 16000);
  std::mt19937_64 a(9), b(9);
  std::vector<float> x = Sine(1600, 300, 16000, 0.3);
  aug.ApplyToWaveform(x, a);
  for (int step = 0; step < 4; ++step) Uniform01(b);  // the decisions of speed, shift, noise and gain
  UniformIn(config.gain.gain_db, b);                  // the gain
  CHECK(a() == b());
}

TEST_CASE("augmentation: edge cut shortens the clips of its labels only, by at most a third per edge",
          "[augmentation]") {
  std::vector<float> ramp(300);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<float>(i);
  const std::vector<float> cut = CutEdges(ramp, 20, 30);
  REQUIRE(cut.size() == 250);
  CHECK(cut.front() == 20.0f);
  CHECK(cut.back() == 269.0f);
  CHECK(CutEdges(ramp, 1000, -5).size() == 200);  // clamped to a third, and to 0

  AugmentationConfig config;
  config.edge_cut = {1.0, {0.1, 0.1}, "_unknown_, other"};
  Augmenter aug(config, 1000);  // 0.1 s = 100 samples, a third of the clip
  const Augmenter plain(AugmentationConfig{}, 1000);
  int start_cut = 0, end_cut = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<float> x = ramp;
    aug.ApplyToWaveform(x, rng, "_unknown_");
    REQUIRE((x.size() == 200 || x.size() == 100));  // one edge or both
    if (x.front() == 100.0f) ++start_cut;
    if (x.back() == 199.0f) ++end_cut;
    std::vector<float> y = ramp;
    std::mt19937_64 rng2(seed);
    aug.ApplyToWaveform(y, rng2, "jarvis");  // not listed: untouched, and no random number drawn
    CHECK(y == ramp);
    std::mt19937_64 rng3(seed);
    std::vector<float> z = ramp;
    plain.ApplyToWaveform(z, rng3, "jarvis");  // the same draws as without an edge cut
    CHECK(rng2() == rng3());
  }
  // Start only, end only or both, each about a third of the time: each edge is cut about 2/3 of the time.
  CHECK(start_cut > 25);
  CHECK(start_cut < 55);
  CHECK(end_cut > 25);
  CHECK(end_cut < 55);
  // An empty list cuts every example, a class-less one (token targets) too.
  config.edge_cut.labels = "";
  Augmenter all(config, 1000);
  std::mt19937_64 rng(1);
  std::vector<float> x = ramp;
  all.ApplyToWaveform(x, rng);
  CHECK(x.size() < ramp.size());
}

TEST_CASE("augmentation: digital silence pads exact zeros at the start, the end or both, and reports them",
          "[augmentation]") {
  const std::vector<float> x{0.5f, -0.25f, 0.125f};
  CHECK(PadWithZeros(x, 2, 1) == std::vector<float>{0, 0, 0.5f, -0.25f, 0.125f, 0});
  CHECK(PadWithZeros(x, -3, 0) == x);

  std::vector<float> ramp(300);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<float>(i + 1);
  AugmentationConfig config;
  config.digital_silence = {1.0, {0.1, 0.1}};  // 100 samples at 1000 Hz
  CHECK(config.AnyWaveform());
  const Augmenter aug(config, 1000);
  int start_padded = 0, end_padded = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<float> y = ramp;
    const ZeroPadding pad = aug.ApplyToWaveform(y, rng);
    REQUIRE((pad.start == 0 || pad.start == 100));
    REQUIRE((pad.end == 0 || pad.end == 100));
    REQUIRE(pad.start + pad.end > 0);
    REQUIRE(y.size() == ramp.size() + static_cast<size_t>(pad.start + pad.end));
    // The clip itself is untouched between the zeros.
    CHECK(std::vector<float>(y.begin() + pad.start, y.end() - pad.end) == ramp);
    CHECK(std::all_of(y.begin(), y.begin() + pad.start, [](float v) { return v == 0.0f; }));
    CHECK(std::all_of(y.end() - pad.end, y.end(), [](float v) { return v == 0.0f; }));
    start_padded += pad.start > 0;
    end_padded += pad.end > 0;
  }
  // Start only, end only or both, each about a third of the time: each edge about 2/3 of the time.
  CHECK(start_padded > 25);
  CHECK(start_padded < 55);
  CHECK(end_padded > 25);
  CHECK(end_padded < 55);

  // Padded last: after the noise, the zeros stay exactly zero.
  config.noise.probability = 1;
  const Augmenter noisy(config, 1000);
  std::mt19937_64 rng(3);
  std::vector<float> y = ramp;
  const ZeroPadding pad = noisy.ApplyToWaveform(y, rng);
  CHECK(std::all_of(y.begin(), y.begin() + pad.start, [](float v) { return v == 0.0f; }));
  CHECK(std::all_of(y.end() - pad.end, y.end(), [](float v) { return v == 0.0f; }));
  CHECK(y[static_cast<size_t>(pad.start)] != ramp[0]);

  // Off (probability 0, the default): nothing added, nothing reported, no random number drawn.
  AugmentationConfig gain_only;
  gain_only.gain.probability = 1;
  AugmentationConfig gain_and_off = gain_only;
  gain_and_off.digital_silence = {0.0, {0.5, 1.0}};
  const Augmenter a(gain_only, 1000), b(gain_and_off, 1000);
  std::mt19937_64 ra(7), rb(7);
  std::vector<float> ya = ramp, yb = ramp;
  const ZeroPadding none = b.ApplyToWaveform(yb, rb);
  a.ApplyToWaveform(ya, ra);
  CHECK(none.start == 0);
  CHECK(none.end == 0);
  CHECK(ya == yb);
  CHECK(ra() == rb());
}

TEST_CASE("augmentation: the synthetic room response has its direct sound, decay and direct-to-reverberant ratio",
          "[augmentation]") {
  std::mt19937_64 rng(5);
  const double rate = 16000, rt60 = 0.5, drr = 6.0;
  const std::vector<float> h = SyntheticRoomResponse(rate, rt60, drr, rng);
  REQUIRE(h.size() == 8000);  // rt60 seconds
  CHECK(h[0] == 1.0f);
  for (size_t i = 1; i < 32; ++i) REQUIRE(h[i] == 0.0f);  // the tail starts after 2 ms
  CHECK(h[32] != 0.0f);
  // The tail's energy is drr dB below the direct sound's (1), exactly: it is scaled so.
  auto energy = [&](size_t from, size_t to) {
    double e = 0;
    for (size_t i = from; i < to; ++i) e += static_cast<double>(h[i]) * h[i];
    return e;
  };
  CHECK(10 * std::log10(1.0 / energy(1, h.size())) == Approx(drr).margin(1e-4));
  // Energy falls 60 dB per rt60, so 12 dB per 0.1 s: the windows [0.1, 0.2) s and [0.3, 0.4) s differ by
  // 24 dB (1600 noise samples each: within 1 dB).
  const double drop = 10 * std::log10(energy(1600, 3200) / energy(4800, 6400));
  CHECK(drop == Approx(24.0).margin(1.0));
  // The same generator state gives the same response.
  std::mt19937_64 again(5);
  CHECK(SyntheticRoomResponse(rate, rt60, drr, again) == h);
  CHECK_THROWS_MATCHES(SyntheticRoomResponse(rate, 5.0, drr, again), ConfigError,
                       HasMessage("augmentation.reverb.rt60_s = 5"));
}

TEST_CASE("augmentation: FFT convolution equals the direct sum, cut to the input's length", "[augmentation]") {
  std::mt19937_64 rng(2);
  for (const auto& [n, m] : {std::pair{37, 5}, std::pair{100, 100}, std::pair{3, 40}, std::pair{1000, 1}}) {
    std::vector<float> x(static_cast<size_t>(n)), h(static_cast<size_t>(m));
    for (float& v : x) v = static_cast<float>(StandardNormal(rng));
    for (float& v : h) v = static_cast<float>(StandardNormal(rng));
    const std::vector<float> y = Convolve(x, h);
    REQUIRE(y.size() == x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      double want = 0;
      for (size_t k = 0; k < h.size() && k <= i; ++k) want += static_cast<double>(h[k]) * x[i - k];
      INFO("n " << n << ", m " << m << ", sample " << i);
      REQUIRE(y[i] == Approx(want).margin(1e-4));
    }
  }
  CHECK(Convolve(std::vector<float>{}, std::vector<float>{1.0f}).empty());
}

TEST_CASE("augmentation: reverb keeps length and power, smears an impulse into the room's tail", "[augmentation]") {
  // A click at 0.1 s in 1 s of silence: after the room, the samples from the click on are the response
  // (times the power-restoring gain), and nothing comes before it.
  std::vector<float> x(16000, 0.0f);
  x[1600] = 1.0f;
  AugmentationConfig config;
  config.reverb.probability = 1;
  config.reverb.rt60_s = {0.3, 0.3};
  config.reverb.drr_db = {3, 3};
  CHECK(config.AnyWaveform());
  Augmenter aug(config, 16000);
  std::vector<float> y = x;
  std::mt19937_64 rng(7);
  aug.ApplyToWaveform(y, rng);
  REQUIRE(y.size() == x.size());
  CHECK(MeanPower(y) == Approx(MeanPower(x)).epsilon(1e-4));
  // The same draws by hand: the decisions of speed and shift, reverb's decision, rt60, drr, then the tail.
  std::mt19937_64 by_hand(7);
  for (int k = 0; k < 3; ++k) Uniform01(by_hand);
  UniformIn(config.reverb.rt60_s, by_hand);
  UniformIn(config.reverb.drr_db, by_hand);
  const std::vector<float> h = SyntheticRoomResponse(16000, 0.3, 3, by_hand);
  const float gain = y[1600];  // h[0] = 1 times the gain
  CHECK(gain == Approx(1.0 / std::sqrt(1.0 + std::pow(10.0, -0.3))).epsilon(1e-4));  // energy 1 + 10^(-drr/10)
  for (size_t i = 0; i < 1600; ++i) REQUIRE(std::abs(y[i]) < 1e-6f);
  for (size_t k = 0; k < h.size(); ++k) REQUIRE(y[1600 + k] == Approx(gain * h[k]).margin(1e-5));
}

TEST_CASE("augmentation: SpecAugment masks stay within their bounds", "[augmentation]") {
  const int base = 10, dim = 30;  // deltas of order 2 appended
  const int64_t frames = 50;
  SpecAugmentConfig config;
  config.time_masks = 3;
  config.max_time_mask_frames = 20;
  config.max_time_mask_fraction = 0.2;  // caps the width at 10 frames here
  config.freq_masks = 2;
  config.max_freq_mask_bins = 4;
  for (MaskFill fill : {MaskFill::kZero, MaskFill::kMean}) {
    config.fill = fill;
    for (uint64_t seed = 0; seed < 200; ++seed) {
      std::vector<float> x(static_cast<size_t>(frames * dim));
      for (size_t i = 0; i < x.size(); ++i) x[i] = 1.0f + static_cast<float>(i % 97);
      const std::vector<float> original = x;
      std::vector<float> column_mean(dim, 0.0f);
      for (int d = 0; d < dim; ++d) {
        double s = 0;
        for (int64_t t = 0; t < frames; ++t) s += original[static_cast<size_t>(t * dim + d)];
        column_mean[static_cast<size_t>(d)] = static_cast<float>(s / frames);
      }
      std::mt19937_64 rng(seed);
      const auto masks = ApplySpecAugment(x, frames, dim, base, config, rng);
      REQUIRE(masks.size() == 5);
      std::vector<bool> masked(x.size(), false);
      for (const SpecMask& m : masks) {
        INFO("seed " << seed << (m.time ? " time" : " freq") << " start " << m.start << " width " << m.width);
        REQUIRE(m.start >= 0);
        REQUIRE(m.width >= 0);
        if (m.time) {
          REQUIRE(m.width <= 10);
          REQUIRE(m.start + m.width <= frames);
          for (int64_t t = m.start; t < m.start + m.width; ++t) {
            for (int d = 0; d < dim; ++d) masked[static_cast<size_t>(t * dim + d)] = true;
          }
        } else {
          REQUIRE(m.width <= 4);
          REQUIRE(m.start + m.width <= base);
          for (int block = 0; block < dim; block += base) {
            for (int64_t f = m.start; f < m.start + m.width; ++f) {
              for (int64_t t = 0; t < frames; ++t) masked[static_cast<size_t>(t * dim + block + f)] = true;
            }
          }
        }
      }
      for (size_t i = 0; i < x.size(); ++i) {
        const float expected = masked[i] ? (fill == MaskFill::kZero ? 0.0f : column_mean[i % dim]) : original[i];
        if (x[i] != expected) {
          FAIL("seed " << seed << " index " << i << " expected " << expected << " actual " << x[i]);
        }
      }
    }
  }
}

TEST_CASE("augmentation: the Augmenter is deterministic for a seed and mixes background audio", "[augmentation]") {
  ScopedTempDir tmp;
  const std::string bg = test::WriteSineFile(tmp.path(), "bg.wav", 16000, 1, 0.3, SF_FORMAT_WAV | SF_FORMAT_PCM_16,
                                             1000.0, 0.2);
  std::ofstream(tmp.path() / "bg.tsv") << "path\nbg.wav\n";
  AugmentationConfig config;
  config.noise.probability = 1.0;
  config.noise.snr_db = {12.0, 12.0};
  config.noise.white_weight = 0;
  config.noise.pink_weight = 0;
  config.noise.background_weight = 1;
  config.noise.background_manifest = (tmp.path() / "bg.tsv").string();
  Augmenter aug(config, 16000);
  CHECK(aug.NumBackgroundFiles() == 1);
  const std::vector<float> clean = Sine(16000, 300, 16000, 0.3);  // longer than the background: it loops
  std::vector<float> a = clean, b = clean;
  std::mt19937_64 ra(11), rb(11);
  aug.ApplyToWaveform(a, ra);
  aug.ApplyToWaveform(b, rb);
  CHECK(a == b);
  std::vector<float> added(a.size());
  for (size_t i = 0; i < a.size(); ++i) added[i] = a[i] - clean[i];
  CHECK(Db(MeanPower(clean) / MeanPower(added)) == Approx(12.0).margin(0.1));
  // The added noise is the 1 kHz background tone: ~2000 crossings per second.
  CHECK(ZeroCrossings(added) == Approx(2000).margin(20));

  SECTION("all steps on: still the same result for the same seed, different for another") {
    AugmentationConfig all;
    all.speed.probability = 1;
    all.shift.probability = 1;
    all.noise.probability = 1;
    all.gain.probability = 1;
    Augmenter aug2(all, 16000);
    std::vector<float> x = clean, y = clean, z = clean;
    std::mt19937_64 r1(5), r2(5), r3(6);
    aug2.ApplyToWaveform(x, r1);
    aug2.ApplyToWaveform(y, r2);
    aug2.ApplyToWaveform(z, r3);
    CHECK(x == y);
    CHECK(x != z);
  }
}

TEST_CASE("augmentation: every validation rule names its field", "[augmentation]") {
  auto check = [](AugmentationConfig c, const std::string& part) {
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage(part, "augmentation."));
  };
  AugmentationConfig c;
  CHECK_NOTHROW(c.Validate());
  {
    auto d = c;
    d.edge_cut.cut_s = {0.1, 20};
    check(d, "augmentation.edge_cut.cut_s.max = 20; expected in [0, 10]");
  }
  {
    auto d = c;
    d.edge_cut.labels = "_unknown_,,x";
    check(d, "augmentation.edge_cut.labels = '_unknown_,,x'; expected class names separated by commas");
  }
  {
    auto d = c;
    d.digital_silence.pad_s = {0.1, 20};
    check(d, "augmentation.digital_silence.pad_s.max = 20; expected in [0, 10]");
  }
  {
    auto d = c;
    d.digital_silence.probability = 2;
    check(d, "augmentation.digital_silence.probability = 2; expected in [0, 1]");
  }
  {
    auto d = c;
    d.noise.probability = 1.5;
    check(d, "augmentation.noise.probability = 1.5; expected in [0, 1]");
  }
  {
    auto d = c;
    d.noise.snr_db = {10, 5};
    check(d, "augmentation.noise.snr_db.max = 5; expected >= min (10)");
  }
  {
    auto d = c;
    d.noise.snr_db = {-80, 5};
    check(d, "augmentation.noise.snr_db.min = -80; expected in [-50, 100]");
  }
  {
    auto d = c;
    d.speed.factor = {0.9, 2.5};
    check(d, "augmentation.speed.factor.max = 2.5");
  }
  {
    auto d = c;
    d.gain.gain_db = {-70, 0};
    check(d, "augmentation.gain.gain_db.min = -70");
  }
  {
    auto d = c;
    d.shift.probability = -0.1;
    check(d, "augmentation.shift.probability = -0.1");
  }
  {
    auto d = c;
    d.band_limit.sample_rate_hz = {1000, 8000};
    check(d, "augmentation.band_limit.sample_rate_hz.min = 1000; expected in [2000, 96000]");
  }
  {
    auto d = c;
    d.band_limit.probability = 2;
    check(d, "augmentation.band_limit.probability = 2");
  }
  {
    auto d = c;
    d.reverb.rt60_s = {0.01, 0.5};
    check(d, "augmentation.reverb.rt60_s.min = 0.01; expected in [0.05, 3]");
  }
  {
    auto d = c;
    d.reverb.drr_db = {10, 50};
    check(d, "augmentation.reverb.drr_db.max = 50; expected in [-20, 40]");
  }
  {
    auto d = c;
    d.reverb.probability = -1;
    check(d, "augmentation.reverb.probability = -1");
  }
  {
    auto d = c;
    d.noise.background_weight = 1;
    check(d, "augmentation.noise.background_weight = 1; expected 0 when no background_manifest is given");
  }
  {
    auto d = c;
    d.noise.background_manifest = "bg.tsv";
    check(d, "augmentation.noise.background_weight = 0; expected > 0 when background_manifest is given");
  }
  {
    auto d = c;
    d.noise.probability = 0.5;
    d.noise.white_weight = 0;
    d.noise.pink_weight = 0;
    check(d, "augmentation.noise.white_weight = 0; expected white_weight + pink_weight + background_weight > 0");
  }
  {
    auto d = c;
    d.noise.pink_weight = -1;
    check(d, "augmentation.noise.pink_weight = -1; expected >= 0");
  }
  {
    auto d = c;
    d.spec_augment.time_masks = -1;
    check(d, "augmentation.spec_augment.time_masks = -1");
  }
  {
    auto d = c;
    d.spec_augment.max_time_mask_fraction = 1.5;
    check(d, "augmentation.spec_augment.max_time_mask_fraction = 1.5; expected in [0, 1]");
  }
  {
    auto d = c;
    d.spec_augment.max_freq_mask_bins = -2;
    check(d, "augmentation.spec_augment.max_freq_mask_bins = -2");
  }
  {
    auto d = c;
    d.speed.probability = 2;
    check(d, "augmentation.speed.probability = 2");
  }
}

}  // namespace
}  // namespace ossicle
