// The energy voice activity detector: speech spans of the bundled test-audio against manifest.tsv,
// synthetic bursts in noise (minimum speech and silence, hangover, maximum segment length, an adaptive
// floor), and the property that any chunking of the samples gives the segments of one call.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "features/energy-vad.h"
#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

constexpr double kRate = 16000.0;

std::vector<SpeechSegment> Detect(const EnergyVadConfig& config, std::span<const float> x, double rate = kRate) {
  EnergyVad vad(config, rate);
  std::vector<SpeechSegment> out = vad.AcceptWaveform(x);
  for (const SpeechSegment& s : vad.InputFinished()) out.push_back(s);
  return out;
}

std::vector<SpeechSegment> DetectChunked(const EnergyVadConfig& config, std::span<const float> x, int max_chunk,
                                         uint32_t seed) {
  EnergyVad vad(config, kRate);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> len(0, max_chunk);
  std::vector<SpeechSegment> out;
  for (size_t pos = 0; pos < x.size();) {
    const size_t n = std::min<size_t>(static_cast<size_t>(len(rng)), x.size() - pos);
    for (const SpeechSegment& s : vad.AcceptWaveform(x.subspan(pos, n))) out.push_back(s);
    pos += n;
  }
  for (const SpeechSegment& s : vad.InputFinished()) out.push_back(s);
  return out;
}

void RequireSame(const std::vector<SpeechSegment>& a, const std::vector<SpeechSegment>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("segment " << i);
    CHECK(a[i].start_sample == b[i].start_sample);
    CHECK(a[i].end_sample == b[i].end_sample);
    CHECK(a[i].continued == b[i].continued);
  }
}

// White noise at `noise_db` (RMS, dB re full scale) with sine bursts at `tone_db` over the given spans.
std::vector<float> Bursts(double seconds, double noise_db, double tone_db,
                          const std::vector<std::pair<double, double>>& spans, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, std::pow(10.0, noise_db / 20.0));
  const double amplitude = std::sqrt(2.0) * std::pow(10.0, tone_db / 20.0);
  std::vector<float> x(static_cast<size_t>(std::llround(seconds * kRate)));
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = static_cast<double>(i) / kRate;
    double v = noise(rng);
    for (const auto& [a, b] : spans) {
      if (t >= a && t < b) v += amplitude * std::sin(2.0 * M_PI * 440.0 * t);
    }
    x[i] = static_cast<float>(v);
  }
  return x;
}

struct ManifestRow {
  std::string path;
  double rate = 0, start = 0, end = 0;
};

std::vector<ManifestRow> ReadManifest() {
  std::ifstream in(std::string(OSSICLE_SOURCE_DIR) + "/test-audio/manifest.tsv");
  REQUIRE(in);
  std::string line;
  std::getline(in, line);
  REQUIRE(line.rfind("path\ttext\tvoice\tsample_rate_hz\tchannels\tencoding\tduration_s\tspeech_start_s\tspeech_end_s", 0) == 0);
  std::vector<ManifestRow> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
    REQUIRE(cols.size() == 9);
    rows.push_back({cols[0], std::stod(cols[3]), std::stod(cols[7]), std::stod(cols[8])});
  }
  return rows;
}

TEST_CASE("the detector finds the speech of every test-audio file", "[features][vad]") {
  // test-audio/README.md: the speech spans come from sox trimming at -60 dBFS; resampling and Vorbis move
  // the edges by up to ~9 ms, and tests should allow at least 20 ms. The detector's edges are frame
  // boundaries (10 ms); measured, every edge is within 10 ms of the manifest.
  const auto rows = ReadManifest();
  REQUIRE(rows.size() >= 17);
  for (const ManifestRow& row : rows) {
    INFO(row.path);
    AudioReadConfig read;
    read.sample_rate_hz = 0;  // the file's own rate
    const std::vector<float> x = ReadAudioFile(std::string(OSSICLE_SOURCE_DIR) + "/test-audio/" + row.path, read);
    const std::vector<SpeechSegment> segments = Detect(EnergyVadConfig{}, x, row.rate);
    REQUIRE(segments.size() == 1);
    const double start = segments[0].StartSeconds(row.rate), end = segments[0].EndSeconds(row.rate);
    INFO("found " << start << " .. " << end << " s, manifest " << row.start << " .. " << row.end << " s");
    CHECK(std::abs(start - row.start) <= 0.020);
    CHECK(std::abs(end - row.end) <= 0.020);
  }
}

TEST_CASE("bursts in noise: one segment per burst, edges within a frame", "[features][vad]") {
  const std::vector<float> x = Bursts(4.0, -50.0, -20.0, {{0.5, 1.2}, {2.0, 2.4}});
  const std::vector<SpeechSegment> s = Detect(EnergyVadConfig{}, x);
  REQUIRE(s.size() == 2);
  CHECK(s[0].StartSeconds(kRate) == Approx(0.5).margin(0.0101));
  CHECK(s[0].EndSeconds(kRate) == Approx(1.2).margin(0.0101));
  CHECK(s[1].StartSeconds(kRate) == Approx(2.0).margin(0.0101));
  CHECK(s[1].EndSeconds(kRate) == Approx(2.4).margin(0.0101));
  CHECK_FALSE(s[0].continued);
}

TEST_CASE("minimum speech, minimum silence and hangover", "[features][vad]") {
  EnergyVadConfig c;
  // A 30 ms click is shorter than min_speech_ms (60 ms).
  CHECK(Detect(c, Bursts(2.0, -50.0, -20.0, {{1.0, 1.03}})).empty());
  c.min_speech_ms = 20;
  CHECK(Detect(c, Bursts(2.0, -50.0, -20.0, {{1.0, 1.03}})).size() == 1);

  // Pauses of 150 ms are bridged (min_silence_ms = 300), pauses of 500 ms are not.
  c = {};
  const std::vector<SpeechSegment> bridged = Detect(c, Bursts(3.0, -50.0, -20.0, {{0.5, 0.8}, {0.95, 1.3}}));
  REQUIRE(bridged.size() == 1);
  CHECK(bridged[0].EndSeconds(kRate) == Approx(1.3).margin(0.0101));
  CHECK(Detect(c, Bursts(3.0, -50.0, -20.0, {{0.5, 0.8}, {1.3, 1.6}})).size() == 2);

  c.hangover_ms = 200;
  const std::vector<SpeechSegment> held = Detect(c, Bursts(3.0, -50.0, -20.0, {{0.5, 0.8}}));
  REQUIRE(held.size() == 1);
  CHECK(held[0].EndSeconds(kRate) == Approx(1.0).margin(0.0101));
  // The hangover never reaches past the input.
  const std::vector<SpeechSegment> cut = Detect(c, Bursts(0.9, -50.0, -20.0, {{0.5, 0.8}}));
  REQUIRE(cut.size() == 1);
  CHECK(cut[0].end_sample == 14400);
}

TEST_CASE("long speech is cut at max_segment_ms", "[features][vad]") {
  EnergyVadConfig c;
  c.max_segment_ms = 2000;
  const std::vector<SpeechSegment> s = Detect(c, Bursts(6.0, -50.0, -20.0, {{0.5, 5.5}}));
  REQUIRE(s.size() == 3);
  CHECK(s[0].start_sample == 8000);
  CHECK(s[0].end_sample == 8000 + 32000);
  CHECK(s[0].continued);
  CHECK(s[1].start_sample == 40000);
  CHECK(s[1].end_sample == 72000);
  CHECK(s[1].continued);
  CHECK(s[2].start_sample == 72000);
  CHECK(s[2].EndSeconds(kRate) == Approx(5.5).margin(0.0101));
  CHECK_FALSE(s[2].continued);
  for (const SpeechSegment& seg : s) CHECK(seg.end_sample - seg.start_sample <= 32000);
}

TEST_CASE("the noise floor follows the background", "[features][vad]") {
  // Background steps from -70 dB to -40 dB at 2 s: at first the louder background looks like speech,
  // then the floor climbs at floor_rise_db_per_s (3 dB/s) until the margin (12 dB) is no longer met,
  // about (30 - 12) / 3 = 6 s later; the floor then settles near the new background.
  std::vector<float> x = Bursts(2.0, -70.0, -200.0, {});
  const std::vector<float> loud = Bursts(12.0, -40.0, -200.0, {}, 2);
  x.insert(x.end(), loud.begin(), loud.end());
  EnergyVad vad(EnergyVadConfig{}, kRate);
  std::vector<SpeechSegment> s = vad.AcceptWaveform(x);
  CHECK(vad.NoiseFloorDb() == Approx(-40.0).margin(2.0));
  for (const SpeechSegment& seg : vad.InputFinished()) s.push_back(seg);
  REQUIRE(s.size() == 1);
  CHECK(s[0].StartSeconds(kRate) == Approx(2.0).margin(0.0101));
  // Frame energies of white noise scatter by about +-1 dB, so the end is within a second of 8 s.
  CHECK(s[0].EndSeconds(kRate) == Approx(8.0).margin(1.0));
}

TEST_CASE("VAD: any chunking gives the segments of one call", "[features][vad][streaming]") {
  EnergyVadConfig c;
  c.max_segment_ms = 700;
  c.hangover_ms = 50;
  std::vector<float> x = Bursts(8.0, -55.0, -25.0, {{0.3, 0.5}, {1.0, 2.7}, {3.0, 3.02}, {3.5, 4.0}, {4.2, 7.9}}, 3);
  const std::vector<SpeechSegment> whole = Detect(c, x);
  CHECK(whole.size() >= 6);
  for (uint32_t seed : {1u, 2u}) {
    for (int max_chunk : {1, 37, 5000}) {
      INFO("seed " << seed << ", chunks up to " << max_chunk << " samples");
      RequireSame(whole, DetectChunked(c, x, max_chunk, seed));
    }
  }
  // Reset, then the same input: the same segments.
  EnergyVad vad(c, kRate);
  vad.AcceptWaveform(std::span<const float>(x).first(12345));
  vad.Reset();
  std::vector<SpeechSegment> again = vad.AcceptWaveform(x);
  for (const SpeechSegment& s : vad.InputFinished()) again.push_back(s);
  RequireSame(whole, again);
}

TEST_CASE("an open segment is visible before it is final", "[features][vad]") {
  const std::vector<float> x = Bursts(1.0, -50.0, -20.0, {{0.5, 1.0}});
  EnergyVad vad(EnergyVadConfig{}, kRate);
  CHECK(vad.AcceptWaveform(std::span<const float>(x).first(8000 + 480)).empty());
  CHECK_FALSE(vad.OpenSegmentStart().has_value());  // 30 ms of speech, less than min_speech_ms
  CHECK(vad.AcceptWaveform(std::span<const float>(x).subspan(8480, 1600)).empty());
  REQUIRE(vad.OpenSegmentStart().has_value());
  CHECK(*vad.OpenSegmentStart() == 8000);
  CHECK(vad.NumSamplesAccepted() == 10080);
  CHECK(vad.NumFramesProcessed() == 63);
}

TEST_CASE("VAD errors name the field or the sample", "[features][vad][errors]") {
  const auto make = [](const EnergyVadConfig& c) { EnergyVad v(c, kRate); };
  EnergyVadConfig c;
  c.frame_ms = 0;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("frame_ms = 0; expected > 0", "vad."));
  c = {};
  c.margin_db = -1;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("margin_db = -1; expected >= 0", "vad."));
  c = {};
  c.min_energy_db = std::nan("");
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("min_energy_db = nan; expected a finite number", "vad."));
  c = {};
  c.floor_rise_db_per_s = -3;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("floor_rise_db_per_s = -3; expected >= 0", "vad."));
  c = {};
  c.hangover_ms = 400;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("hangover_ms = 400; expected <= min_silence_ms (300)", "vad."));
  c = {};
  c.max_segment_ms = 5;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("max_segment_ms = 5; expected >= frame_ms (10)", "vad."));
  c = {};
  c.min_speech_ms = -1;
  CHECK_THROWS_MATCHES(make(c), ConfigError, HasMessage("min_speech_ms = -1; expected >= 0", "vad."));
  c = {};
  c.frame_ms = 0.01;
  CHECK_THROWS_MATCHES(EnergyVad(c, 8000.0), ConfigError, HasMessage("at least one sample at 8000 Hz", "vad.frame_ms"));
  CHECK_THROWS_MATCHES(EnergyVad(EnergyVadConfig{}, 0.0), ConfigError, HasMessage("expected > 0", "vad"));
  c = {};
  c.frame_ms = 0;
  CHECK_THROWS_MATCHES(EnergyVad(c, kRate, "stages.vad.options"), ConfigError,
                       HasMessage("frame_ms = 0", "stages.vad.options.frame_ms"));

  EnergyVad vad(EnergyVadConfig{}, kRate);
  std::vector<float> x(100, 0.1f);
  vad.AcceptWaveform(x);
  x[40] = std::nanf("");
  CHECK_THROWS_MATCHES(vad.AcceptWaveform(x), AudioError, HasMessage("sample 140 (t = 0.00875 s) is nan"));
}

}  // namespace
}  // namespace ossicle
