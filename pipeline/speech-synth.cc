#include "pipeline/speech-synth.h"

#include <sndfile.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "features/config-fields.h"
#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/seed-hash.h"
#include "pipeline/speech-engines.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;

std::string JoinList(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

// %.6g: the precision of the cache key, so a value and its printed form name the same clip.
std::string FormatFactor(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void WriteFloatWav(const std::string& path, const SynthesizedAudio& audio) {
  SF_INFO info{};
  info.samplerate = static_cast<int>(std::lround(audio.sample_rate_hz));
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f) throw IoError(path + ": cannot write synthesis cache file (libsndfile: " + sf_strerror(nullptr) + ")");
  const auto n = static_cast<sf_count_t>(audio.samples.size());
  const sf_count_t written = sf_writef_float(f, audio.samples.data(), n);
  const int close_error = sf_close(f);
  if (written != n || close_error != 0) throw IoError(path + ": cannot write synthesis cache file (disk full?)");
}

std::string ReadCachedFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

void CheckSynthesisRequest(const std::string& engine, const std::vector<std::string>& voices,
                           const std::string& text, const std::string& voice, double rate, double pitch) {
  if (text.empty() || text.find('\0') != std::string::npos ||
      std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n'; })) {
    throw ConfigError(engine + ": text '" + text + "'; expected some non-blank text to synthesise");
  }
  if (!(rate >= 0.25 && rate <= 4.0)) throw ConfigError(RuleMessage(engine, "rate", rate, "in [0.25, 4]"));
  if (!(pitch >= 0.25 && pitch <= 4.0)) throw ConfigError(RuleMessage(engine, "pitch", pitch, "in [0.25, 4]"));
  if (std::find(voices.begin(), voices.end(), voice) == voices.end()) {
    throw ConfigError(engine + ": unknown voice '" + voice + "'; expected one of " + JoinList(voices));
  }
}

std::vector<std::string> SpeechEngineNames() { return {"espeak-ng", "flite", "festival"}; }

std::string SpeechEngineUnavailableReason(std::string_view engine) {
  if (engine == "espeak-ng") return EspeakUnavailableReason();
  if (engine == "flite") return FliteUnavailableReason();
  if (engine == "festival") return FestivalUnavailableReason();
  return "unknown speech engine '" + std::string(engine) + "'; expected one of " + JoinList(SpeechEngineNames());
}

std::unique_ptr<SpeechSynthesizer> MakeSpeechSynthesizer(std::string_view engine) {
  const std::string reason = SpeechEngineUnavailableReason(engine);
  if (!reason.empty()) throw ConfigError(reason);
  if (engine == "espeak-ng") return MakeEspeakSynthesizer();
  if (engine == "flite") return MakeFliteSynthesizer();
  return MakeFestivalSynthesizer();
}

// ---- SynthesisCache ----

SynthesisCache::SynthesisCache(std::string dir) : dir_(std::move(dir)) {}

std::string SynthesisCache::Key(std::string_view engine, std::string_view voice, double rate, double pitch,
                                uint64_t seed, std::string_view text) {
  std::string key;
  key += engine;
  key += '\n';
  key += voice;
  key += '\n';
  key += FormatFactor(rate);
  key += '\n';
  key += FormatFactor(pitch);
  key += '\n';
  key += std::to_string(seed);
  key += '\n';
  key += text;
  return key;
}

std::string SynthesisCache::FileStem(std::string_view key) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, Fnv1a64(key));
  return buf;
}

SynthesizedAudio SynthesisCache::Get(const SpeechSynthesizer& engine, const std::string& text,
                                     const std::string& voice, double rate, double pitch, uint64_t seed,
                                     bool* hit) const {
  if (hit) *hit = false;
  if (dir_.empty()) return engine.Synthesize(text, voice, rate, pitch, seed);
  const std::string key = Key(engine.Engine(), voice, rate, pitch, seed, text);
  const fs::path folder = fs::path(dir_) / engine.Engine();
  const fs::path wav = folder / (FileStem(key) + ".wav");
  const fs::path key_file = folder / (FileStem(key) + ".key");
  std::error_code ec;
  if (fs::is_regular_file(wav, ec) && ReadCachedFile(key_file) == key) {
    try {
      AudioReadConfig read;
      read.sample_rate_hz = 0;  // the engine's own rate, as stored
      SynthesizedAudio out;
      out.sample_rate_hz = ProbeAudioFile(wav.string()).sample_rate_hz;
      out.samples = ReadAudioFile(wav.string(), read);
      if (hit) *hit = true;
      return out;
    } catch (const AudioError&) {
      // A damaged cache file (an interrupted copy, a full disk): synthesise again and replace it.
    }
  }
  SynthesizedAudio out = engine.Synthesize(text, voice, rate, pitch, seed);
  fs::create_directories(folder, ec);
  if (ec) throw IoError(folder.string() + ": cannot create the synthesis cache folder: " + ec.message());
  // Unique temporary names (process id + counter), then rename: readers never see a partial file, and
  // two writers of the same clip write identical bytes.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp_suffix = ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const fs::path wav_tmp = wav.string() + tmp_suffix;
  const fs::path key_tmp = key_file.string() + tmp_suffix;
  WriteFloatWav(wav_tmp.string(), out);
  {
    std::ofstream k(key_tmp, std::ios::binary);
    k << key;
    if (!k.good()) throw IoError(key_tmp.string() + ": cannot write synthesis cache key file");
  }
  // The key last: a .key that matches always names a complete .wav.
  fs::rename(wav_tmp, wav, ec);
  if (!ec) fs::rename(key_tmp, key_file, ec);
  if (ec) {
    fs::remove(wav_tmp, ec);
    fs::remove(key_tmp, ec);
  }
  return out;
}

}  // namespace ossicle
