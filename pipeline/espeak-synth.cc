// espeak-ng, linked (libespeak-ng), synthesising to memory through its synchronous callback.
//
// espeak-ng 1.51 keeps its wave generator's state (phase, sample counters, pitch flutter position) in
// globals that no API resets, so a second call with the same text gives slightly different samples (and
// it draws from libc's rand()). To make a clip a pure function of (text, voice, rate, pitch, seed), the
// library is initialised once in this process and never used here: every clip is made in a forked child,
// which starts from that pristine state, seeds rand() with `seed`, synthesises, and sends the samples back
// through a pipe. The children run in parallel; a child that hangs is killed after kTimeoutSeconds.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
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

// English languages of espeak-ng 1.51 (its gmw/en* voice files; "en" is British English) and its
// human-like variants (espeak-ng-data/voices/!v: m1..m7 male, f1..f5 female); no variant = the language's
// own voice.
constexpr const char* kLanguages[] = {"en",         "en-us",          "en-gb-scotland", "en-gb-x-rp",
                                      "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",         "en-us-nyc"};
constexpr const char* kVariants[] = {"", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5"};
// A word takes milliseconds; a long sentence well under a second.
constexpr double kTimeoutSeconds = 60.0;

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

std::mutex& InitMutex() {
  static std::mutex m;
  return m;
}

// Writes all of [data, data + n) to fd (in the child; only async-signal-safe calls).
bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// The child: synthesise, then send {int32 status; payload}: status 0 and int16 samples, or status 1 and
// an error message. Never returns.
[[noreturn]] void ChildSynthesize(int fd, const std::string& text, const std::string& voice, int wpm, int pitch,
                                  uint64_t seed) {
  auto fail = [&](const std::string& what, espeak_ng_STATUS status) {
    const int32_t code = 1;
    const std::string msg = what + ": " + StatusMessage(status);
    WriteAll(fd, &code, sizeof code);
    WriteAll(fd, msg.data(), msg.size());
    ::_exit(0);
  };
  espeak_ng_STATUS status = espeak_ng_SetVoiceByName(voice.c_str());
  if (status != ENS_OK) fail("cannot select the voice", status);
  if ((status = espeak_ng_SetParameter(espeakRATE, wpm, 0)) != ENS_OK) fail("cannot set the rate", status);
  if ((status = espeak_ng_SetParameter(espeakPITCH, pitch, 0)) != ENS_OK) fail("cannot set the pitch", status);
  // espeak-ng's only randomness is libc's rand(); this process is ours alone, so seeding it is safe.
  std::srand(static_cast<unsigned>(seed ^ (seed >> 32)));
  std::vector<short> pcm;
  status = espeak_ng_Synthesize(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr, &pcm);
  if (status == ENS_OK) status = espeak_ng_Synchronize();
  if (status != ENS_OK) fail("synthesis failed", status);
  const int32_t code = 0;
  WriteAll(fd, &code, sizeof code);
  WriteAll(fd, pcm.data(), pcm.size() * sizeof(short));
  ::_exit(0);
}

// Forks a child that synthesises; returns its raw reply. Throws AudioError naming `what` on failure.
std::string RunInChild(const std::string& what, const std::string& text, const std::string& voice, int wpm,
                       int pitch, uint64_t seed) {
  int fds[2];
  if (::pipe(fds) != 0) throw AudioError(what + ": cannot create a pipe: " + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw AudioError(what + ": cannot fork: " + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    ChildSynthesize(fds[1], text, voice, wpm, pitch, seed);
  }
  ::close(fds[1]);
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(kTimeoutSeconds);
  bool timed_out = false;
  char buf[65536];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) throw AudioError(what + ": espeak-ng did not finish within " + std::to_string(kTimeoutSeconds) + " s");
  if (WIFSIGNALED(wstatus)) {
    throw AudioError(what + ": the espeak-ng process died (signal " + std::to_string(WTERMSIG(wstatus)) + ")");
  }
  return reply;
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
                              uint64_t seed) const override {
    CheckSynthesisRequest("espeak-ng", voices_, text, voice, rate, pitch);
    int sample_rate = 0;
    {
      std::lock_guard lock(InitMutex());
      const std::string& init = InitResult(&sample_rate);
      if (!init.empty()) throw ConfigError(init);
    }
    const std::string what = "espeak-ng voice " + voice + ", text '" + text + "'";
    // Words per minute: espeak's normal 175 x rate, within its accepted 80..450 (speak_lib.h).
    const int wpm = std::clamp(static_cast<int>(std::lround(espeakRATE_NORMAL * rate)), espeakRATE_MINIMUM,
                               espeakRATE_MAXIMUM);
    // Pitch on espeak's 0..100 scale, 50 being the voice's normal pitch.
    const int p = std::clamp(static_cast<int>(std::lround(50.0 * pitch)), 0, 100);
    const std::string reply = RunInChild(what, text, voice, wpm, p, seed);
    int32_t code = -1;
    if (reply.size() >= sizeof code) std::memcpy(&code, reply.data(), sizeof code);
    if (code == 1) throw AudioError(what + ": " + reply.substr(sizeof code));
    if (code != 0 || (reply.size() - sizeof code) % sizeof(short) != 0) {
      throw AudioError(what + ": the espeak-ng process sent an incomplete reply (" + std::to_string(reply.size()) +
                       " bytes)");
    }
    SynthesizedAudio out;
    out.sample_rate_hz = sample_rate;
    const size_t n = (reply.size() - sizeof code) / sizeof(short);
    out.samples.resize(n);
    for (size_t i = 0; i < n; ++i) {
      short s = 0;
      std::memcpy(&s, reply.data() + sizeof code + i * sizeof(short), sizeof s);
      out.samples[i] = static_cast<float>(s) / 32768.0f;
    }
    if (out.samples.empty()) throw AudioError(what + ": no audio produced");
    return out;
  }

 private:
  std::vector<std::string> voices_;
};

}  // namespace

std::string EspeakUnavailableReason() {
  std::lock_guard lock(InitMutex());
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
