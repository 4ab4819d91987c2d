// espeak-ng, linked (libespeak-ng), synthesising to memory through its synchronous callback.
#include <algorithm>
#include <cmath>
#include <mutex>

#include "features/errors.h"
#include "pipeline/speech-engines.h"

#if defined(OSSICLE_HAVE_ESPEAK_NG)
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#endif

namespace ossicle {

#if defined(OSSICLE_HAVE_ESPEAK_NG)
namespace {

// English languages of espeak-ng 1.51 (its gmw/en* voice files) and its human-like variants
// (espeak-ng-data/voices/!v: m1..m7 male, f1..f5 female); "" is the language's own voice.
constexpr const char* kLanguages[] = {"en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                                      "en-gb-x-gbcwmd", "en-029", "en-us-nyc"};
constexpr const char* kVariants[] = {"", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"};

// espeak-ng keeps global state (voice, parameters, callback): every call holds this lock.
std::mutex& EspeakMutex() {
  static std::mutex m;
  return m;
}

int CollectSamples(short* wav, int num_samples, espeak_EVENT* events) {
  if (wav != nullptr && num_samples > 0 && events != nullptr && events->user_data != nullptr) {
    auto* out = static_cast<std::vector<short>*>(events->user_data);
    out->insert(out->end(), wav, wav + num_samples);
  }
  return 0;  // continue synthesis
}

std::string StatusMessage(espeak_ng_STATUS status) {
  char buf[512] = {};
  espeak_ng_GetStatusCodeMessage(status, buf, sizeof buf);
  return buf;
}

// Initialises espeak-ng once per process; returns "" or the reason it failed.
const std::string& InitResult(int* sample_rate) {
  static int rate = 0;
  static const std::string result = [] {
    espeak_ng_InitializePath(nullptr);
    espeak_ng_ERROR_CONTEXT context = nullptr;
    espeak_ng_STATUS status = espeak_ng_Initialize(&context);
    if (context) espeak_ng_ClearErrorContext(&context);
    if (status != ENS_OK) {
      return "speech engine 'espeak-ng' is not available: " + StatusMessage(status) +
             " (install the Debian package espeak-ng-data)";
    }
    status = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, nullptr);
    if (status != ENS_OK) return "speech engine 'espeak-ng' cannot synthesise to memory: " + StatusMessage(status);
    espeak_SetSynthCallback(CollectSamples);
    rate = espeak_ng_GetSampleRate();
    return std::string();
  }();
  *sample_rate = rate;
  return result;
}

class EspeakSynthesizer : public SpeechSynthesizer {
 public:
  EspeakSynthesizer() {
    for (const char* lang : kLanguages) {
      for (const char* variant : kVariants) {
        voices_.push_back(std::string(lang) + (*variant ? std::string("+") + variant : std::string()));
      }
    }
    std::sort(voices_.begin(), voices_.end());
  }

  std::string Engine() const override { return "espeak-ng"; }
  std::vector<std::string> Voices() const override { return voices_; }

  SynthesizedAudio Synthesize(const std::string& text, const std::string& voice, double rate, double pitch,
                              uint64_t /*seed: espeak-ng is deterministic*/) const override {
    CheckSynthesisRequest("espeak-ng", voices_, text, voice, rate, pitch);
    std::lock_guard lock(EspeakMutex());
    int sample_rate = 0;
    const std::string& init = InitResult(&sample_rate);
    if (!init.empty()) throw ConfigError(init);
    auto fail = [&](const std::string& what, espeak_ng_STATUS status) {
      return AudioError("espeak-ng voice " + voice + ", text '" + text + "': " + what + ": " + StatusMessage(status));
    };
    espeak_ng_STATUS status = espeak_ng_SetVoiceByName(voice.c_str());
    if (status != ENS_OK) throw fail("cannot select the voice", status);
    // Words per minute: espeak's normal 175 x rate, within its accepted 80..450 (speak_lib.h).
    const int wpm = std::clamp(static_cast<int>(std::lround(espeakRATE_NORMAL * rate)), espeakRATE_MINIMUM,
                               espeakRATE_MAXIMUM);
    // Pitch on espeak's 0..100 scale, 50 being the voice's normal pitch.
    const int p = std::clamp(static_cast<int>(std::lround(50.0 * pitch)), 0, 100);
    if ((status = espeak_ng_SetParameter(espeakRATE, wpm, 0)) != ENS_OK) throw fail("cannot set the rate", status);
    if ((status = espeak_ng_SetParameter(espeakPITCH, p, 0)) != ENS_OK) throw fail("cannot set the pitch", status);
    std::vector<short> pcm;
    status = espeak_ng_Synthesize(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr,
                                  &pcm);
    if (status == ENS_OK) status = espeak_ng_Synchronize();
    if (status != ENS_OK) throw fail("synthesis failed", status);
    SynthesizedAudio out;
    out.sample_rate_hz = sample_rate;
    out.samples.reserve(pcm.size());
    for (short s : pcm) out.samples.push_back(static_cast<float>(s) / 32768.0f);
    if (out.samples.empty()) throw AudioError("espeak-ng voice " + voice + ", text '" + text + "': no audio produced");
    return out;
  }

 private:
  std::vector<std::string> voices_;
};

}  // namespace

std::string EspeakUnavailableReason() {
  std::lock_guard lock(EspeakMutex());
  int rate = 0;
  return InitResult(&rate);
}

std::unique_ptr<SpeechSynthesizer> MakeEspeakSynthesizer() { return std::make_unique<EspeakSynthesizer>(); }

#else

std::string EspeakUnavailableReason() {
  return "speech engine 'espeak-ng' is not available: ossicle was built without libespeak-ng (install the "
         "Debian package libespeak-ng-dev and rebuild)";
}
std::unique_ptr<SpeechSynthesizer> MakeEspeakSynthesizer() { throw ConfigError(EspeakUnavailableReason()); }

#endif

}  // namespace ossicle
