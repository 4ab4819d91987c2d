// espeak-ng, linked (libespeak-ng), synthesising to memory through its synchronous callback.
//
// espeak-ng 1.51 keeps its wave generator's state (phase, sample counters, pitch flutter position) in
// globals that no API resets, so a second call with the same text gives slightly different samples (and
// it draws from libc's rand()). To make a clip a pure function of (text, voice, rate, pitch, seed), the
// library is initialised once in this process and never used here: every clip is made in a fresh process
// that starts from that pristine state, seeds rand() with `seed`, synthesises, and sends the samples back
// through a pipe.
//
// Those processes are not forked from this one: it may be running threads (the synthesis pool, the batch
// loader), and the child of a multi-threaded fork may only make async-signal-safe calls until it execs;
// espeak-ng allocates and does stdio, and a child once hung (a lock held by another thread at the fork,
// seen under ASan). Instead the first engine forks a helper process while this one has no other thread;
// the helper, single-threaded, forks one grandchild per clip. Requests travel over a socket with the reply
// pipe's write end attached, so the grandchildren run in parallel and reply to the requesting thread
// directly; a grandchild that hangs ends itself after kEspeakTimeoutSeconds (alarm).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
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
constexpr double kEspeakTimeoutSeconds = 60.0;

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
bool WriteAllToPipe(int fd, const void* data, size_t n) {
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

// A reply: {int32 status; uint64 payload bytes; payload}: status 0 and int16 samples, or status 1 and an
// error message. The length makes a reply cut short by a crash or a kill detectable.
void WriteReply(int fd, int32_t status, const void* payload, size_t bytes) {
  const uint64_t n = bytes;
  WriteAllToPipe(fd, &status, sizeof status) && WriteAllToPipe(fd, &n, sizeof n) && WriteAllToPipe(fd, payload, bytes);
}

// A request to the helper: this header, then the voice's and the text's bytes; the reply pipe's write end
// travels with it (SCM_RIGHTS).
struct RequestHeader {
  int32_t wpm = 0;
  int32_t pitch = 0;
  uint64_t seed = 0;
  uint32_t voice_bytes = 0;
  uint32_t text_bytes = 0;
};
// One datagram per request (AF_UNIX SOCK_SEQPACKET); far below the socket's default buffer (~200 KiB).
constexpr size_t kMaxRequestBytes = 64 * 1024;

// The grandchild: synthesise and reply on fd. Never returns.
[[noreturn]] void SynthesizeAndReply(int fd, const char* text, const char* voice, int wpm, int pitch, uint64_t seed) {
  auto fail = [&](const char* what, espeak_ng_STATUS status) {
    const std::string msg = std::string(what) + ": " + StatusMessage(status);
    WriteReply(fd, 1, msg.data(), msg.size());
    ::_exit(0);
  };
  espeak_ng_STATUS status = espeak_ng_SetVoiceByName(voice);
  if (status != ENS_OK) fail("cannot select the voice", status);
  if ((status = espeak_ng_SetParameter(espeakRATE, wpm, 0)) != ENS_OK) fail("cannot set the rate", status);
  if ((status = espeak_ng_SetParameter(espeakPITCH, pitch, 0)) != ENS_OK) fail("cannot set the pitch", status);
  // espeak-ng's only randomness is libc's rand(); this process is ours alone, so seeding it is safe.
  std::srand(static_cast<unsigned>(seed ^ (seed >> 32)));
  std::vector<short> pcm;
  status = espeak_ng_Synthesize(text, std::strlen(text) + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr, &pcm);
  if (status == ENS_OK) status = espeak_ng_Synchronize();
  if (status != ENS_OK) fail("synthesis failed", status);
  WriteReply(fd, 0, pcm.data(), pcm.size() * sizeof(short));
  ::_exit(0);
}

// The helper process: forked from the process that creates the first espeak-ng engine, while it has no
// other thread (the engine is made before any synthesis thread starts), so it is an ordinary
// single-threaded process in which every call is safe. It never synthesises itself: for each request it
// forks a grandchild that starts from the pristine library state both inherited, and replies on the
// request's pipe. It ends when the socket closes (the parent exited). Never returns.
[[noreturn]] void HelperMain(int sock) {
  // Only the socket and stderr (for sanitizer reports) stay open: the helper must not keep the parent's
  // pipes (e.g. a test's or a shell's stdout) from reaching end-of-file.
  constexpr int kSock = 3;
  if (sock != kSock) {
    ::dup2(sock, kSock);
    ::close(sock);
  }
  const int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
  }
  ::close_range(kSock + 1, ~0U, 0);
  ::signal(SIGCHLD, SIG_IGN);  // the grandchildren are reaped automatically
  ::signal(SIGALRM, SIG_DFL);  // a grandchild's alarm() ends it
  ::signal(SIGPIPE, SIG_DFL);  // a grandchild whose reader gave up ends
  static char buf[kMaxRequestBytes + 2];  // + the two strings' terminating NULs
  while (true) {
    iovec iov{buf, kMaxRequestBytes};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(kSock, &msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(0);
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
    if (fd < 0) continue;
    RequestHeader h;
    const auto size = static_cast<size_t>(n);
    if (size >= sizeof h) std::memcpy(&h, buf, sizeof h);
    if (size < sizeof h || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
        size != sizeof h + h.voice_bytes + h.text_bytes) {
      const char kBad[] = "malformed request to the espeak-ng helper process";
      WriteReply(fd, 1, kBad, sizeof kBad - 1);
      ::close(fd);
      continue;
    }
    // Voice then text, each NUL-terminated in place (the text moves up one byte to make room).
    char* voice = buf + sizeof h;
    char* text = voice + h.voice_bytes + 1;
    std::memmove(text, voice + h.voice_bytes, h.text_bytes);
    voice[h.voice_bytes] = '\0';
    text[h.text_bytes] = '\0';
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(kSock);
      ::alarm(static_cast<unsigned>(kEspeakTimeoutSeconds));
      SynthesizeAndReply(fd, text, voice, h.wpm, h.pitch, h.seed);
    }
    if (pid < 0) {
      const std::string why = std::string("cannot fork: ") + std::strerror(errno);
      WriteReply(fd, 1, why.data(), why.size());
    }
    ::close(fd);
  }
}

// The helper's socket for this process, forked on first use (a process forked later gets its own).
// Call with InitMutex held, after InitResult succeeded. Throws AudioError when the helper cannot start.
int HelperSocket() {
  static int sock = -1;
  static pid_t owner = 0;
  if (sock >= 0 && owner == ::getpid()) return sock;
  if (sock >= 0) ::close(sock);  // inherited from the process this one was forked from
  sock = -1;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    throw AudioError(std::string("espeak-ng: cannot create a socket for its helper process: ") + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw AudioError(std::string("espeak-ng: cannot fork its helper process: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    HelperMain(fds[1]);
  }
  ::close(fds[1]);
  sock = fds[0];
  owner = ::getpid();
  return sock;
}

// Sends one request to the helper and returns the raw reply. Throws AudioError naming `what` on failure.
std::string RunInHelper(int sock, const std::string& what, const std::string& text, const std::string& voice, int wpm,
                        int pitch, uint64_t seed) {
  RequestHeader h;
  h.wpm = wpm;
  h.pitch = pitch;
  h.seed = seed;
  h.voice_bytes = static_cast<uint32_t>(voice.size());
  h.text_bytes = static_cast<uint32_t>(text.size());
  if (sizeof h + voice.size() + text.size() > kMaxRequestBytes) {
    throw AudioError(what + ": the text is longer than " + std::to_string(kMaxRequestBytes / 1024) + " KiB");
  }
  std::string request(reinterpret_cast<const char*>(&h), sizeof h);
  request += voice;
  request += text;

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw AudioError(what + ": cannot create a pipe: " + std::strerror(errno));
  iovec iov{request.data(), request.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fds[1], sizeof(int));
  ssize_t sent;
  while ((sent = ::sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  const int send_error = errno;
  ::close(fds[1]);  // the helper holds its own copy now
  if (sent < 0) {
    ::close(fds[0]);
    throw AudioError(what + ": cannot reach the espeak-ng helper process: " + std::strerror(send_error));
  }

  // The grandchild ends itself after kEspeakTimeoutSeconds (alarm); the margin covers a busy machine.
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(kEspeakTimeoutSeconds + 30.0);
  std::string reply;
  char buf[65536];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
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
  constexpr size_t kHead = sizeof(int32_t) + sizeof(uint64_t);
  uint64_t payload = 0;
  if (reply.size() >= kHead) std::memcpy(&payload, reply.data() + sizeof(int32_t), sizeof payload);
  if (reply.size() < kHead || reply.size() - kHead != payload) {
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (took.count() >= kEspeakTimeoutSeconds) {
      throw AudioError(what + ": espeak-ng did not finish within " + std::to_string(kEspeakTimeoutSeconds) + " s");
    }
    throw AudioError(what + ": the espeak-ng process died (" + std::to_string(reply.size()) + " bytes of its reply)");
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
    // The helper is forked here, where the engine is made (before the threads that will use it start).
    std::lock_guard lock(InitMutex());
    int sample_rate = 0;
    if (InitResult(&sample_rate).empty()) HelperSocket();
  }

  std::string Engine() const override { return "espeak-ng"; }
  std::vector<std::string> Voices() const override { return voices_; }

  SynthesizedAudio Synthesize(const std::string& text, const std::string& voice, double rate, double pitch,
                              uint64_t seed) const override {
    CheckSynthesisRequest("espeak-ng", voices_, text, voice, rate, pitch);
    int sample_rate = 0;
    int sock = -1;
    {
      std::lock_guard lock(InitMutex());
      const std::string& init = InitResult(&sample_rate);
      if (!init.empty()) throw ConfigError(init);
      sock = HelperSocket();
    }
    const std::string what = "espeak-ng voice " + voice + ", text '" + text + "'";
    // Words per minute: espeak's normal 175 x rate, within its accepted 80..450 (speak_lib.h).
    const int wpm = std::clamp(static_cast<int>(std::lround(espeakRATE_NORMAL * rate)), espeakRATE_MINIMUM,
                               espeakRATE_MAXIMUM);
    // Pitch on espeak's 0..100 scale, 50 being the voice's normal pitch.
    const int p = std::clamp(static_cast<int>(std::lround(50.0 * pitch)), 0, 100);
    const std::string reply = RunInHelper(sock, what, text, voice, wpm, p, seed);
    // RunInHelper checked the length: {int32 status; uint64 bytes; payload of that many bytes}.
    constexpr size_t kHead = sizeof(int32_t) + sizeof(uint64_t);
    int32_t code = -1;
    std::memcpy(&code, reply.data(), sizeof code);
    if (code == 1) throw AudioError(what + ": " + reply.substr(kHead));
    if (code != 0 || (reply.size() - kHead) % sizeof(short) != 0) {
      throw AudioError(what + ": the espeak-ng process sent a malformed reply (" + std::to_string(reply.size()) +
                       " bytes)");
    }
    SynthesizedAudio out;
    out.sample_rate_hz = sample_rate;
    const size_t n = (reply.size() - kHead) / sizeof(short);
    out.samples.resize(n);
    for (size_t i = 0; i < n; ++i) {
      short s = 0;
      std::memcpy(&s, reply.data() + kHead + i * sizeof(short), sizeof s);
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
