// flite, linked (libflite + its CMU US voices), synthesising to memory.
#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "features/errors.h"
#include "pipeline/speech-engines.h"

#if defined(OSSICLE_HAVE_FLITE)
#include <csetjmp>

extern "C" {
#include <flite/flite.h>
// The voices' registration functions (each voice library exports one; flite.h does not declare them).
cst_voice* register_cmu_us_kal(const char* voxdir);
cst_voice* register_cmu_us_kal16(const char* voxdir);
cst_voice* register_cmu_us_awb(const char* voxdir);
cst_voice* register_cmu_us_rms(const char* voxdir);
cst_voice* register_cmu_us_slt(const char* voxdir);
}
#endif

namespace ossicle {

#if defined(OSSICLE_HAVE_FLITE)
namespace {

struct FliteVoice {
  const char* name;
  cst_voice* (*reg)(const char*);
  cst_voice* voice = nullptr;
  float f0_mean = 0;  // the voice's own int_f0_target_mean, scaled by `pitch`
};

// flite keeps global state and its voices' feature sets are shared: every call holds this lock.
std::mutex& FliteMutex() {
  static std::mutex m;
  return m;
}

std::vector<FliteVoice>& Registry() {
  static std::vector<FliteVoice> voices = [] {
    flite_init();
    std::vector<FliteVoice> v = {{"awb", register_cmu_us_awb},
                                 {"kal", register_cmu_us_kal},
                                 {"kal16", register_cmu_us_kal16},
                                 {"rms", register_cmu_us_rms},
                                 {"slt", register_cmu_us_slt}};
    for (auto& fv : v) {
      fv.voice = fv.reg(nullptr);
      // 100 Hz is flite's own fallback when a voice sets no target mean.
      if (fv.voice) fv.f0_mean = get_param_float(fv.voice->features, "int_f0_target_mean", 100.0f);
    }
    return v;
  }();
  return voices;
}

// Runs flite_text_to_wave with flite's error hook pointed at a local jump buffer: flite's cst_error()
// otherwise calls exit(). Only C objects live between setjmp and the call, so the jump skips no destructor.
cst_wave* GuardedTextToWave(const char* text, cst_voice* voice) {
  jmp_buf env;
  cst_errjmp = &env;
  if (setjmp(env) != 0) {
    cst_errjmp = nullptr;
    return nullptr;
  }
  cst_wave* w = flite_text_to_wave(text, voice);
  cst_errjmp = nullptr;
  return w;
}

class FliteSynthesizer : public SpeechSynthesizer {
 public:
  std::string Engine() const override { return "flite"; }
  std::vector<std::string> Voices() const override {
    std::lock_guard lock(FliteMutex());
    std::vector<std::string> out;
    for (const auto& v : Registry()) {
      if (v.voice) out.emplace_back(v.name);
    }
    return out;
  }

  SynthesizedAudio Synthesize(const std::string& text, const std::string& voice, double rate, double pitch,
                              uint64_t seed) const override {
    CheckSynthesisRequest("flite", Voices(), text, voice, rate, pitch);
    std::lock_guard lock(FliteMutex());
    auto& registry = Registry();
    const auto it = std::find_if(registry.begin(), registry.end(), [&](const FliteVoice& v) { return voice == v.name; });
    cst_voice* v = it->voice;
    feat_set_float(v->features, "duration_stretch", static_cast<float>(1.0 / rate));
    feat_set_float(v->features, "int_f0_target_mean", static_cast<float>(it->f0_mean * pitch));
    // The clustergen voices (awb, rms, slt) draw from libc's rand(): seeded here, under the lock, a clip is
    // a function of its arguments. (No other code of ours calls rand(); espeak-ng's calls run in children.)
    std::srand(static_cast<unsigned>(seed ^ (seed >> 32)));
    cst_wave* w = GuardedTextToWave(text.c_str(), v);
    if (w == nullptr) throw AudioError("flite voice " + voice + ", text '" + text + "': synthesis failed");
    SynthesizedAudio out;
    out.sample_rate_hz = w->sample_rate;
    const int channels = std::max(1, w->num_channels);
    out.samples.reserve(static_cast<size_t>(std::max(0, w->num_samples)));
    for (int i = 0; i < w->num_samples; ++i) {
      out.samples.push_back(static_cast<float>(w->samples[static_cast<size_t>(i) * static_cast<size_t>(channels)]) /
                            32768.0f);
    }
    delete_wave(w);
    if (out.samples.empty()) throw AudioError("flite voice " + voice + ", text '" + text + "': no audio produced");
    return out;
  }
};

}  // namespace

std::string FliteUnavailableReason() { return ""; }
std::unique_ptr<SpeechSynthesizer> MakeFliteSynthesizer() { return std::make_unique<FliteSynthesizer>(); }

#else

std::string FliteUnavailableReason() {
  return "speech engine 'flite' is not available: ossicle was built without libflite (install the Debian "
         "package flite1-dev and rebuild)";
}
std::unique_ptr<SpeechSynthesizer> MakeFliteSynthesizer() { throw ConfigError(FliteUnavailableReason()); }

#endif

}  // namespace ossicle
