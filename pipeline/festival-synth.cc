// Festival, through its `text2wave` script: one process per clip, no shell, text in a temporary file.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/resample.h"
#include "pipeline/speech-engines.h"

extern char** environ;

namespace ossicle {
namespace {

namespace fs = std::filesystem;

// Debian installs Festival's voices as <dir>/<language>/<voice>/ (festvox-kallpc16k: english/kal_diphone).
constexpr const char* kVoiceRoot = "/usr/share/festival/voices";
// A clip of a few words takes well under a second; anything near this limit is a hung process.
constexpr double kFestivalTimeoutSeconds = 120.0;

std::string FindOnPath(const std::string& exe) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::stringstream ss(dirs);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) dir = ".";
    const fs::path candidate = fs::path(dir) / exe;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return {};
}

std::vector<std::string> InstalledVoices() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& lang : fs::directory_iterator(kVoiceRoot, ec)) {
    if (!lang.is_directory(ec)) continue;
    for (const auto& voice : fs::directory_iterator(lang.path(), ec)) {
      if (voice.is_directory(ec)) out.push_back(voice.path().filename().string());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  std::string t = s.str();
  if (t.size() > 2000) t = t.substr(t.size() - 2000);
  return t;
}

// Runs argv with stdin from /dev/null and stdout + stderr into `log`; returns the exit status, or throws
// AudioError when it cannot start, is killed by a signal or outlives kFestivalTimeoutSeconds (then killed).
int RunProcess(const std::vector<std::string>& argv, const fs::path& log, const std::string& what) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw AudioError(what + ": cannot start " + argv[0] + ": " + std::strerror(rc));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(kFestivalTimeoutSeconds);
  int status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) throw AudioError(what + ": waiting for text2wave failed: " + std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw AudioError(what + ": text2wave did not finish within " + Num(kFestivalTimeoutSeconds) + " s (killed)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFSIGNALED(status)) {
    throw AudioError(what + ": text2wave was killed by signal " + std::to_string(WTERMSIG(status)) + ": " +
                     ReadText(log));
  }
  return WEXITSTATUS(status);
}

// Removes the per-call temporary folder whatever happens.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<uint64_t> counter{0};
    path = fs::temp_directory_path() /
           ("ossicle-festival-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

class FestivalSynthesizer : public SpeechSynthesizer {
 public:
  FestivalSynthesizer(std::string text2wave, std::vector<std::string> voices)
      : text2wave_(std::move(text2wave)), voices_(std::move(voices)) {}

  std::string Engine() const override { return "festival"; }
  std::vector<std::string> Voices() const override { return voices_; }

  SynthesizedAudio Synthesize(const std::string& text, const std::string& voice, double rate, double pitch,
                              uint64_t /*seed: Festival is deterministic*/) const override {
    CheckSynthesisRequest("festival", voices_, text, voice, rate, pitch);
    const std::string what = "festival voice " + voice + ", text '" + text + "'";
    TempDir tmp;
    const fs::path text_file = tmp.path / "text.txt";
    const fs::path wav_file = tmp.path / "out.wav";
    const fs::path log_file = tmp.path / "log.txt";
    {
      std::ofstream t(text_file, std::ios::binary);
      t << text << '\n';
      if (!t.good()) throw IoError(text_file.string() + ": cannot write the text for text2wave");
    }
    // HTS voices ignore Duration_Stretch and int_lr_params (and hts_engine's -fm half-tone shift has no
    // effect through Festival 2.5), so they get speed through hts_engine's -r and pitch by resampling
    // the output by `pitch` afterwards, with -r pre-compensated so the duration still scales by 1 / rate.
    const bool hts = voice.size() > 4 && voice.compare(voice.size() - 4, 4, "_hts") == 0;
    std::vector<std::string> argv = {text2wave_, "-o", wav_file.string(), "-eval", "(voice_" + voice + ")"};
    if (hts) {
      argv.push_back("-eval");
      argv.push_back("(set! hts_engine_params (append hts_engine_params (list (list \"-r\" " + Num(rate / pitch) +
                     "))))");
    } else {
      argv.push_back("-eval");
      argv.push_back("(Parameter.set 'Duration_Stretch " + Num(1.0 / rate) + ")");
      // Diphone voices map the intonation model's F0 onto int_lr_params' target mean and deviation.
      argv.push_back("-eval");
      argv.push_back("(set! int_lr_params (mapcar (lambda (p) (if (or (equal? (car p) 'target_f0_mean) "
                     "(equal? (car p) 'target_f0_std)) (list (car p) (* " + Num(pitch) +
                     " (car (cdr p)))) p)) int_lr_params))");
    }
    argv.push_back(text_file.string());
    const int status = RunProcess(argv, log_file, what);
    std::error_code ec;
    if (status != 0 || !fs::is_regular_file(wav_file, ec)) {
      throw AudioError(what + ": text2wave failed (exit status " + std::to_string(status) + "): " + ReadText(log_file));
    }
    SynthesizedAudio out;
    AudioReadConfig read;
    read.sample_rate_hz = 0;
    out.sample_rate_hz = ProbeAudioFile(wav_file.string()).sample_rate_hz;
    out.samples = ReadAudioFile(wav_file.string(), read);
    if (hts && pitch != 1.0) out.samples = ResampleAudio(out.samples, pitch, 1.0);
    if (out.samples.empty()) throw AudioError(what + ": no audio produced");
    return out;
  }

 private:
  std::string text2wave_;
  std::vector<std::string> voices_;
};

}  // namespace

std::string FestivalUnavailableReason() {
  if (FindOnPath("text2wave").empty()) {
    return "speech engine 'festival' is not available: text2wave not found on PATH (install the Debian package "
           "festival)";
  }
  if (InstalledVoices().empty()) {
    return std::string("speech engine 'festival' is not available: no voices in ") + kVoiceRoot +
           " (install a Debian package such as festvox-kallpc16k, festvox-kdlpc16k or festvox-us-slt-hts)";
  }
  return "";
}

std::unique_ptr<SpeechSynthesizer> MakeFestivalSynthesizer() {
  return std::make_unique<FestivalSynthesizer>(FindOnPath("text2wave"), InstalledVoices());
}

}  // namespace ossicle
