#include "pipeline/speech-synth.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "features/errors.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using test::HasMessage;
using test::ScopedTempDir;

double Rms(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += static_cast<double>(v) * v;
  return x.empty() ? 0.0 : std::sqrt(s / static_cast<double>(x.size()));
}

// Median F0 over the voiced 40 ms frames (autocorrelation peak between 60 and 400 Hz); frames quieter than
// 10% of the clip's mean power are skipped. Crude, but enough to order two pitches of one voice.
double MedianF0(const SynthesizedAudio& a) {
  const auto n = static_cast<size_t>(0.04 * a.sample_rate_hz);
  const auto lo = static_cast<size_t>(a.sample_rate_hz / 400), hi = static_cast<size_t>(a.sample_rate_hz / 60);
  double mean_power = 0;
  for (float v : a.samples) mean_power += static_cast<double>(v) * v;
  mean_power /= static_cast<double>(a.samples.size());
  std::vector<double> f0;
  for (size_t s = 0; s + n <= a.samples.size(); s += n) {
    double p = 0;
    for (size_t i = 0; i < n; ++i) p += static_cast<double>(a.samples[s + i]) * a.samples[s + i];
    if (p / static_cast<double>(n) < 0.1 * mean_power) continue;
    size_t best = lo;
    double best_ac = -1e300;
    for (size_t lag = lo; lag <= hi && lag < n; ++lag) {
      double ac = 0;
      for (size_t i = 0; i + lag < n; ++i) ac += static_cast<double>(a.samples[s + i]) * a.samples[s + i + lag];
      if (ac > best_ac) {
        best_ac = ac;
        best = lag;
      }
    }
    f0.push_back(a.sample_rate_hz / static_cast<double>(best));
  }
  if (f0.empty()) return 0;
  std::sort(f0.begin(), f0.end());
  return f0[f0.size() / 2];
}

// The engine, or null after a WARN when it is not installed here.
std::unique_ptr<SpeechSynthesizer> EngineOrSkip(const std::string& name) {
  const std::string reason = SpeechEngineUnavailableReason(name);
  if (!reason.empty()) {
    WARN("skipped: " << reason);
    return nullptr;
  }
  return MakeSpeechSynthesizer(name);
}

TEST_CASE("speech synthesis: every engine says 'yes' audibly, for a plausible time, deterministically",
          "[speech-synth]") {
  for (const std::string& name : SpeechEngineNames()) {
    auto tts = EngineOrSkip(name);
    if (!tts) continue;
    INFO("engine " << name);
    CHECK(tts->Engine() == name);
    const std::vector<std::string> voices = tts->Voices();
    REQUIRE(!voices.empty());
    CHECK(std::is_sorted(voices.begin(), voices.end()));
    // Every voice speaks (a misspelt voice name would fail here). espeak-ng has ~100 voices, so it is
    // sampled; the others are all tried.
    const size_t step = voices.size() > 20 ? 7 : 1;
    for (size_t v = 0; v < voices.size(); v += step) {
      INFO("voice " << voices[v]);
      const SynthesizedAudio a = tts->Synthesize("yes", voices[v], 1.0, 1.0, 0);
      CHECK(a.sample_rate_hz >= 8000);
      CHECK(a.DurationSeconds() > 0.15);
      CHECK(a.DurationSeconds() < 2.0);
      CHECK(Rms(a.samples) > 0.01);
      for (float x : a.samples) REQUIRE(std::abs(x) <= 1.0f);
    }
    const SynthesizedAudio a = tts->Synthesize("yes", voices[0], 1.1, 0.9, 7);
    const SynthesizedAudio b = tts->Synthesize("yes", voices[0], 1.1, 0.9, 7);
    CHECK((a.samples == b.samples));
  }
}

TEST_CASE("speech synthesis: rate shortens the clip and pitch raises F0", "[speech-synth]") {
  for (const std::string& name : SpeechEngineNames()) {
    auto tts = EngineOrSkip(name);
    if (!tts) continue;
    for (const std::string& voice : tts->Voices()) {
      // One voice per synthesis method is enough: espeak-ng's default, flite's diphone and clustergen
      // voices, Festival's diphone and HTS voices.
      if (name == "espeak-ng" && voice != "en-us") continue;
      if (name == "flite" && voice != "kal16" && voice != "slt") continue;
      if (name == "festival" && voice == "ked_diphone") continue;
      INFO(name << " voice " << voice);
      const std::string text = "seven hundred and seven";
      const SynthesizedAudio slow = tts->Synthesize(text, voice, 0.75, 1.0, 0);
      const SynthesizedAudio fast = tts->Synthesize(text, voice, 1.5, 1.0, 0);
      const double ratio = slow.DurationSeconds() / fast.DurationSeconds();
      CHECK(ratio > 1.5);
      CHECK(ratio < 2.5);
      const double low = MedianF0(tts->Synthesize(text, voice, 1.0, 0.8, 0));
      const double high = MedianF0(tts->Synthesize(text, voice, 1.0, 1.25, 0));
      INFO("F0 " << low << " Hz -> " << high << " Hz");
      // Expected 1.56x; espeak-ng's 0..100 pitch scale is not linear in Hz (measured 1.25x for en-us).
      CHECK(high > 1.15 * low);
    }
  }
}

TEST_CASE("speech synthesis: bad requests name the value and the choices", "[speech-synth]") {
  CHECK_THROWS_MATCHES(MakeSpeechSynthesizer("sam"), ConfigError,
                       HasMessage("unknown speech engine 'sam'; expected one of espeak-ng, flite, festival"));
  for (const std::string& name : SpeechEngineNames()) {
    auto tts = EngineOrSkip(name);
    if (!tts) continue;
    const std::string voice = tts->Voices()[0];
    CHECK_THROWS_MATCHES(tts->Synthesize("yes", "nobody", 1, 1, 0), ConfigError,
                         HasMessage("unknown voice 'nobody'; expected one of " + voice, name + ":"));
    CHECK_THROWS_MATCHES(tts->Synthesize("yes", voice, 5, 1, 0), ConfigError,
                         HasMessage(name + ".rate = 5; expected in [0.25, 4]"));
    CHECK_THROWS_MATCHES(tts->Synthesize("yes", voice, 1, 0.1, 0), ConfigError,
                         HasMessage(name + ".pitch = 0.1; expected in [0.25, 4]"));
    CHECK_THROWS_MATCHES(tts->Synthesize("  ", voice, 1, 1, 0), ConfigError,
                         HasMessage("expected some non-blank text", name + ":"));
  }
}

TEST_CASE("speech synthesis: an engine that is not installed names the package", "[speech-synth]") {
  // Festival is found on PATH at run time: with an empty PATH it is missing.
  ScopedTempDir tmp;
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  ::setenv("PATH", tmp.path().c_str(), 1);
  const std::string reason = SpeechEngineUnavailableReason("festival");
  CHECK_THROWS_MATCHES(MakeSpeechSynthesizer("festival"), ConfigError,
                       HasMessage("text2wave not found on PATH (install the Debian package festival)",
                                  "speech engine 'festival' is not available"));
  ::setenv("PATH", saved.c_str(), 1);
  CHECK(reason.find("install the Debian package festival") != std::string::npos);
}

// espeak-ng makes every clip in a grandchild of its helper process (pipeline/espeak-synth.cc): requests
// from several threads at once must each get their own clip, equal to the one made alone.
TEST_CASE("speech synthesis: espeak-ng clips made on several threads equal the clips made one by one",
          "[speech-synth][threads]") {
  auto tts = EngineOrSkip("espeak-ng");
  if (!tts) return;
  const std::vector<std::string> texts = {"yes", "no", "stop", "go", "left", "right"};
  const std::vector<std::string> voices = {"en-us", "en+f2", "en-gb-scotland+m3"};
  std::vector<SynthesizedAudio> alone;
  for (size_t i = 0; i < texts.size(); ++i) {
    alone.push_back(tts->Synthesize(texts[i], voices[i % voices.size()], 1.1, 0.9, i));
  }
  std::vector<SynthesizedAudio> together(texts.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < texts.size(); i += 3) {
        together[i] = tts->Synthesize(texts[i], voices[i % voices.size()], 1.1, 0.9, i);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO(texts[i]);
    CHECK(together[i].samples.size() > 2000);  // > 0.09 s at 22050 Hz
    CHECK((together[i].samples == alone[i].samples));
  }
  // Another engine of the same process shares the helper and says the same.
  const auto second = MakeSpeechSynthesizer("espeak-ng");
  CHECK((second->Synthesize(texts[0], voices[0], 1.1, 0.9, 0).samples == alone[0].samples));
  // A request too large for one message to the helper is refused before it is sent.
  CHECK_THROWS_MATCHES(tts->Synthesize(std::string(70000, 'a'), "en-us", 1.0, 1.0, 0), AudioError,
                       HasMessage("the text is longer than 64 KiB", "espeak-ng voice en-us"));
}

TEST_CASE("speech synthesis: the disk cache returns the same clip without synthesising", "[speech-synth]") {
  auto tts = EngineOrSkip("espeak-ng");
  if (!tts) tts = EngineOrSkip("flite");
  if (!tts) return;
  ScopedTempDir tmp;
  const SynthesisCache cache((tmp.path() / "cache").string());
  const std::string voice = tts->Voices()[0];
  bool hit = true;
  const SynthesizedAudio first = cache.Get(*tts, "stop", voice, 1.05, 0.95, 3, &hit);
  CHECK_FALSE(hit);
  const SynthesizedAudio second = cache.Get(*tts, "stop", voice, 1.05, 0.95, 3, &hit);
  CHECK(hit);
  CHECK((second.samples == first.samples));
  CHECK(second.sample_rate_hz == first.sample_rate_hz);
  // Another text, rate or seed is another clip.
  cache.Get(*tts, "go", voice, 1.05, 0.95, 3, &hit);
  CHECK_FALSE(hit);
  cache.Get(*tts, "stop", voice, 1.06, 0.95, 3, &hit);
  CHECK_FALSE(hit);
  const std::string key = SynthesisCache::Key(tts->Engine(), voice, 1.05, 0.95, 3, "stop");
  CHECK(key == tts->Engine() + "\n" + voice + "\n1.05\n0.95\n3\nstop");
  const fs::path wav = tmp.path() / "cache" / tts->Engine() / (SynthesisCache::FileStem(key) + ".wav");
  CHECK(fs::is_regular_file(wav));
  SECTION("a key file that does not match (a hash collision) means a miss") {
    std::ofstream(fs::path(wav).replace_extension(".key"), std::ios::binary) << "something else";
    cache.Get(*tts, "stop", voice, 1.05, 0.95, 3, &hit);
    CHECK_FALSE(hit);
    cache.Get(*tts, "stop", voice, 1.05, 0.95, 3, &hit);
    CHECK(hit);
  }
  SECTION("a damaged cache file is synthesised again") {
    std::ofstream(wav, std::ios::binary) << "RIFF";
    const SynthesizedAudio again = cache.Get(*tts, "stop", voice, 1.05, 0.95, 3, &hit);
    CHECK_FALSE(hit);
    CHECK((again.samples == first.samples));
  }
  SECTION("an empty folder disables the cache") {
    const SynthesisCache none("");
    none.Get(*tts, "stop", voice, 1.05, 0.95, 3, &hit);
    CHECK_FALSE(hit);
  }
}

}  // namespace
}  // namespace ossicle
