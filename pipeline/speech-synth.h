// Text-to-speech engines behind one interface, for training a keyword from its spelling alone.
//
//   auto tts = ossicle::MakeSpeechSynthesizer("espeak-ng");       // or "flite", "festival"
//   for (const std::string& voice : tts->Voices()) {
//     ossicle::SynthesizedAudio a = tts->Synthesize("yes", voice, /*rate=*/1.1, /*pitch=*/0.9, /*seed=*/7);
//     // a.samples: mono floats in [-1, 1) at a.sample_rate_hz (the engine's own rate)
//   }
//
// Engines (Debian packages):
//   espeak-ng  libespeak-ng1 (built against libespeak-ng-dev): linked; each clip is made in its own process
//              from a freshly initialised library (espeak-ng carries wave-generator state from one clip to
//              the next otherwise) and handed back through a pipe. Those processes are forked by a helper
//              process that the first espeak-ng engine forks when it is made (so make it before starting
//              threads; nothing is forked from a multi-threaded process). Voices are "<language>[+<variant>]":
//              8 English languages x (no variant, m1..m7, f1..f5). rate: words per minute = 175 x rate
//              (clamped to 80..450); pitch: espeak pitch 50 x pitch (0..100 scale, clamped). `seed`
//              seeds espeak-ng's random choices (libc rand() in the child).
//   flite      libflite1 (built against flite1-dev): linked, synthesises to memory. Voices awb, kal, kal16,
//              rms, slt. rate: duration_stretch = 1 / rate; pitch: int_f0_target_mean x pitch. `seed`
//              seeds libc rand(), which its clustergen voices (awb, rms, slt) draw from.
//   festival   festival + festvox-kallpc16k / festvox-kdlpc16k / festvox-us-slt-hts: runs `text2wave`
//              (no shell; the text goes through a temporary file). Voices: those installed under
//              /usr/share/festival/voices (kal_diphone, ked_diphone, cmu_us_slt_arctic_hts). Diphone
//              voices: Duration_Stretch = 1 / rate, int_lr_params' F0 target mean and deviation x pitch.
//              HTS voices ignore both, so hts_engine's speed -r = rate / pitch is used and the output is
//              resampled by `pitch` (which also moves the formants, like a shorter or longer vocal tract).
// rate and pitch are factors relative to the voice's default (1 = default); rate > 1 speaks faster.
// Both must lie in [0.25, 4]. Festival is deterministic and ignores `seed`; for every engine the same
// (text, voice, rate, pitch, seed) gives the same samples.
//
// Errors: an unknown engine or voice, or rate/pitch out of range, is a ConfigError naming the value and
// the choices; an engine that is not installed (or not compiled in) is a ConfigError that names the
// Debian package to install, e.g. "speech engine 'festival' is not available: text2wave not found on
// PATH (install the Debian package festival)". An engine that fails, hangs (killed after a minute or
// two) or produces no audio for a text is an AudioError naming the engine, voice and text.
//
// Thread safety: Synthesize may be called from several threads. espeak-ng (one process per clip)
// and Festival (one text2wave process per clip) run in parallel; flite keeps global state, so its calls
// are serialised by a process-wide lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ossicle {

struct SynthesizedAudio {
  std::vector<float> samples;   // mono, in [-1, 1)
  double sample_rate_hz = 0.0;  // the engine's own rate (espeak-ng 22050, flite 8000/16000, festival 16000)
  double DurationSeconds() const {
    return sample_rate_hz > 0 ? static_cast<double>(samples.size()) / sample_rate_hz : 0.0;
  }
};

class SpeechSynthesizer {
 public:
  virtual ~SpeechSynthesizer() = default;
  // "espeak-ng", "flite" or "festival".
  virtual std::string Engine() const = 0;
  // Every voice this engine offers here (non-empty, sorted).
  virtual std::vector<std::string> Voices() const = 0;
  virtual SynthesizedAudio Synthesize(const std::string& text, const std::string& voice, double rate,
                                      double pitch, uint64_t seed) const = 0;
};

// The engines this build knows, installed or not: {"espeak-ng", "flite", "festival"}.
std::vector<std::string> SpeechEngineNames();
// "" when `engine` can be used here, else the reason (naming the Debian package), as MakeSpeechSynthesizer
// would throw it.
std::string SpeechEngineUnavailableReason(std::string_view engine);
// Throws ConfigError for an unknown or unavailable engine (see above).
std::unique_ptr<SpeechSynthesizer> MakeSpeechSynthesizer(std::string_view engine);

// A disk cache of synthesised clips, so a training run (or the next one) does not synthesise again.
// One float WAV per clip under `dir`, named by a 64-bit FNV-1a hash of the key
// "engine \n voice \n rate \n pitch \n seed \n text" (rate and pitch printed with 6 significant digits),
// with the key in a .key file beside it (checked on read, so a hash collision only costs a re-synthesis).
// Files are written to a temporary name and renamed, so concurrent writers never expose a partial file.
class SynthesisCache {
 public:
  // An empty `dir` disables the cache (every call synthesises). The folder is created when needed.
  explicit SynthesisCache(std::string dir);
  const std::string& Dir() const { return dir_; }

  // Returns the cached clip or synthesises and stores it. `hit`, when given, says which happened.
  SynthesizedAudio Get(const SpeechSynthesizer& engine, const std::string& text, const std::string& voice,
                       double rate, double pitch, uint64_t seed, bool* hit = nullptr) const;

  // The key string and file stem (16 hex digits) of a clip.
  static std::string Key(std::string_view engine, std::string_view voice, double rate, double pitch,
                         uint64_t seed, std::string_view text);
  static std::string FileStem(std::string_view key);

 private:
  std::string dir_;
};

}  // namespace ossicle
