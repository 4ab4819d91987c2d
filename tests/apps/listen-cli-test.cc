// End-to-end tests of `ossicle devices` and `ossicle listen`, with ALSA file capture devices standing in
// for a microphone (tests/support/alsa-file-devices.h): the device plays a test-audio clip, listen runs the
// live graph (configs/graphs/live-keywords.yaml) on it, and what it prints must equal what `ossicle run`
// prints for the same graph reading the same clip from its file (live == batch).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/run-ossicle.h"
#include "features/feature-config.h"
#include "models/acoustic-model.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/graph-test-support.h"
#include "pipeline/stages/model-decoder-defaults.h"
#include "support/alsa-file-devices.h"

extern char** environ;

// Without PortAudio there is no live path to test (tests/pipeline/microphone-source-test.cc checks the error).
#if OSSICLE_WITH_PORTAUDIO
namespace ossicle::test {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

std::string LiveGraph(const std::string& name = "live-keywords.yaml") {
  return std::string(OSSICLE_SOURCE_DIR) + "/configs/graphs/" + name;
}

// The live graph `name` with its microphone replaced by a file source of the same rate: what `ossicle run`
// runs for the batch side of live == batch. Sinks print JSON lines.
std::string WriteFileTwin(const fs::path& dir, const std::string& name = "live-keywords.yaml") {
  YAML::Node root = YAML::LoadFile(LiveGraph(name));
  for (YAML::Node stage : root["stages"]) {
    const std::string type = stage["type"].as<std::string>();
    if (type == "source.microphone") {
      const double rate = stage["options"]["sample_rate_hz"].as<double>(16000.0);
      stage["type"] = "source.file";
      YAML::Node options;
      options["paths"] = YAML::Load("[]");
      options["sample_rate_hz"] = rate;
      stage["options"] = options;
    } else if (type == "sink.text") {
      stage["type"] = "sink.jsonl";
      stage.remove("options");
    }
  }
  const fs::path path = dir / ("file-twin-" + name);
  std::ofstream(path) << root;
  return path.string();
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    INFO("line: " << line);
    REQUIRE_FALSE(j.is_discarded());
    out.push_back(j);
  }
  return out;
}

std::vector<nlohmann::json> OfType(const std::vector<nlohmann::json>& records, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& r : records) {
    if (r.value("type", "") == type) out.push_back(r);
  }
  return out;
}

// A test process with its own stdout/stderr files, environment additions and a deadline.
class Child {
 public:
  Child(const std::string& args, const std::vector<std::string>& env_add, const fs::path& dir)
      : out_(dir / "child-stdout.txt"), err_(dir / "child-stderr.txt") {
    const std::string command = "exec '" + std::string(OSSICLE_BINARY) + "' " + args + " >'" + out_.string() +
                                "' 2>'" + err_.string() + "' </dev/null";
    std::vector<std::string> env_strings(env_add);
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      bool replaced = false;
      for (const std::string& add : env_add) {
        replaced = replaced || entry.substr(0, entry.find('=') + 1) == add.substr(0, add.find('=') + 1);
      }
      if (!replaced) env_strings.push_back(entry);
    }
    std::vector<char*> envp;
    for (std::string& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
    char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
    REQUIRE(posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, argv, envp.data()) == 0);
  }
  ~Child() {
    if (pid_ > 0) {  // a failed test: never leave the process behind
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  std::string Out() const { return ReadTextFile(out_); }
  std::string Err() const { return ReadTextFile(err_); }

  // Waits until standard error contains `text`; false if the process ended or `timeout` passed first.
  bool WaitForStderr(const std::string& text, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Err().find(text) != std::string::npos) return true;
      if (Exited()) return Err().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  void Signal(int sig) const { kill(pid_, sig); }

  // The exit code (128 + signal when killed), or -1 after `timeout` (the process is then killed).
  int Wait(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!Exited()) {
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return code_;
  }

 private:
  bool Exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return true;
  }

  fs::path out_, err_;
  pid_t pid_ = -1;
  int code_ = -1;
};

// The ALSA devices and a random-weight keyword model shared by the tests of this file.
struct LiveFixture {
  ScopedTempDir dir{"ossicle-listen"};
  AlsaFileDevices alsa;
  std::string model;
  std::string twin;
  std::string home_env;

  LiveFixture() {
    AudioReadConfig own;
    own.sample_rate_hz = 0;
    for (const char* clip : {"stop_en_16k.wav", "five-zero-nine-two_en-gb-scotland_16k.wav"}) {
      const std::vector<float> samples = ReadAudioFile(TestAudio(clip), own);
      alsa.Add(DeviceFor(clip), samples);
    }
    alsa.WriteConfig();
    home_env = "HOME=" + alsa.Home().string();
    // Random weights (seeded): hidden 32, three labels. With the decoder settings of kDecoder the clips
    // give several hits with distinct scores, so live == batch compares something.
    ModelArchitecture arch;
    arch.input_size = 40;
    arch.hidden_size = 32;
    arch.num_layers = 1;
    arch.bidirectional = true;  // the live graph runs it in latency-controlled chunks
    arch.num_classes = 3;
    AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(40), {"_silence_", "yes", "no"}, /*seed=*/1)
        ->Save((dir.path() / "kws.safetensors").string());
    model = (dir.path() / "kws.safetensors").string();
    twin = WriteFileTwin(dir.path());
    // A character CTC model (random weights) whose decoder metadata names the words and a threshold low
    // enough for its arbitrary scores: listen must find both without --keywords or --threshold.
    arch.num_classes = 12;
    const auto ctc = AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(40),
                                               {"<blank>", "|", "g", "o", "s", "t", "p", "y", "e", "n", "l", "f"},
                                               /*seed=*/2);
    ctc_model = (dir.path() / "ctc.safetensors").string();
    SaveModelWithDecoderJson(*ctc, ctc_model, kCtcDecoder);
    ctc_twin = WriteFileTwin(dir.path(), "live-ctc-keywords.yaml");
  }

  static constexpr const char* kCtcDecoder =
      R"({"type": "decoder.ctc_keywords", "keywords": "stop,go,yes,no", "threshold": 0.02})";
  std::string ctc_model;
  std::string ctc_twin;

  static std::string DeviceFor(const std::string& clip) {
    std::string name = "ossicle_test_" + clip.substr(0, clip.find('_'));
    for (char& c : name) c = c == '-' ? '_' : c;
    return name;
  }
};

LiveFixture& Fixture() {
  static LiveFixture fixture;
  return fixture;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Decoder settings for the random model: a low threshold, short window, no suppression.
const char* const kDecoder =
    " --set keywords.threshold=0.36 --set keywords.window_ms=100 --set keywords.suppression_ms=0";

// Runs `ossicle ARGS` to completion with HOME at the test devices (at most 120 s).
RunResult RunWithTestDevices(const std::string& args) {
  LiveFixture& f = Fixture();
  ScopedTempDir capture("ossicle-listen-run");
  Child child(args, {f.home_env}, capture.path());
  RunResult r;
  r.exit_code = child.Wait(std::chrono::seconds(120));
  r.out = child.Out();
  r.err = child.Err();
  UNSCOPED_INFO("ossicle " << args << "\nexit code: " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}


TEST_CASE("ossicle devices lists the ALSA file devices, as a table and as JSON", "[cli][live]") {
  const RunResult table = RunWithTestDevices("devices");
  REQUIRE(table.exit_code == 0);
  CHECK_THAT(table.out, Contains("index") && Contains("channels") && Contains("default rate"));
  CHECK_THAT(table.out, Contains("ossicle_test_stop") && Contains("ossicle_test_five"));
  CHECK_THAT(table.err, !Contains("ALSA lib") && !Contains("jack"));  // the probing noise is silenced

  const RunResult json = RunWithTestDevices("devices --json");
  REQUIRE(json.exit_code == 0);
  const auto devices = JsonLines(json.out);
  bool found = false;
  for (const auto& d : devices) {
    CHECK(d.at("index").is_number_integer());
    CHECK(d.at("channels").get<int>() > 0);
    CHECK(d.at("default_sample_rate_hz").get<double>() > 0);
    if (d.at("name") == "ossicle_test_stop") {
      found = true;
      CHECK(d.at("host_api") == "ALSA");
    }
  }
  CHECK(found);
}

TEST_CASE("ossicle listen: an unknown or ambiguous device is a device error listing the devices", "[cli][live]") {
  LiveFixture& f = Fixture();
  const RunResult unknown = RunWithTestDevices("listen --device 'blue yeti' --model " + Quote(f.model));
  CHECK(unknown.exit_code == 6);
  CHECK_THAT(unknown.err, Contains("no audio device matches 'blue yeti'") && Contains("ossicle_test_stop"));
  const RunResult ambiguous = RunWithTestDevices("listen --device ossicle_test --model " + Quote(f.model));
  CHECK(ambiguous.exit_code == 6);
  CHECK_THAT(ambiguous.err, Contains("matches 2 capture devices"));
  CHECK_THAT(ambiguous.err, !Contains("ALSA lib"));
}

// Every hit of `live` equals the hit of `batch` at the same position (keyword, times, score).
void CheckSameHits(const std::vector<nlohmann::json>& live_hits, const std::vector<nlohmann::json>& batch_hits) {
  REQUIRE(live_hits.size() == batch_hits.size());
  for (size_t i = 0; i < live_hits.size(); ++i) {
    INFO("hit " << i << ": live " << live_hits[i].dump() << ", batch " << batch_hits[i].dump());
    CHECK(live_hits[i].at("keyword") == batch_hits[i].at("keyword"));
    CHECK(live_hits[i].at("start_s").get<double>() == Approx(batch_hits[i].at("start_s").get<double>()).margin(1e-9));
    CHECK(live_hits[i].at("end_s").get<double>() == Approx(batch_hits[i].at("end_s").get<double>()).margin(1e-9));
    CHECK(live_hits[i].at("score").get<double>() == Approx(batch_hits[i].at("score").get<double>()).margin(1e-6));
  }
}

std::string DurationOf(const std::string& clip) {
  std::ostringstream duration;
  duration.precision(17);
  duration << ProbeAudioFile(TestAudio(clip)).duration_s;
  return duration.str();
}

// The same clip through the live path (device -> ring -> graph) and the batch path (file -> graph): the
// same records. --duration ends the live stream exactly at the clip's length, as the file ends.
TEST_CASE("ossicle listen prints the hits ossicle run prints for the same audio (live == batch)", "[cli][live]") {
  LiveFixture& f = Fixture();
  for (const char* clip : {"stop_en_16k.wav", "five-zero-nine-two_en-gb-scotland_16k.wav"}) {
    INFO(clip);
    const AudioInfo info = ProbeAudioFile(TestAudio(clip));
    // The device floods (no clock): a ring longer than the clip keeps every sample of it.
    const RunResult live = RunWithTestDevices("listen --json --device " + LiveFixture::DeviceFor(clip) +
                                              " --model " + Quote(f.model) + " --duration " + DurationOf(clip) +
                                              " --set mic.ring_ms=10000" + kDecoder);
    REQUIRE(live.exit_code == 0);
    const RunResult batch = RunOssicle("run " + Quote(f.twin) + " " + Quote(TestAudio(clip)) + " --set model.path=" +
                                       Quote(f.model) + kDecoder);
    REQUIRE(batch.exit_code == 0);

    const auto live_records = JsonLines(live.out);
    const auto batch_records = JsonLines(batch.out);
    const auto live_hits = OfType(live_records, "hit");
    const auto batch_hits = OfType(batch_records, "hit");
    REQUIRE(batch_hits.size() >= 3);
    CheckSameHits(live_hits, batch_hits);
    const auto summaries = OfType(live_records, "summary");
    REQUIRE(summaries.size() == 1);
    const auto& summary = summaries[0];
    CHECK_THAT(summary.at("file").get<std::string>(), Catch::Matchers::StartsWith("microphone"));
    CHECK(summary.at("device") == LiveFixture::DeviceFor(clip));
    CHECK(summary.at("duration_s").get<double>() == Approx(info.duration_s).margin(1e-9));
    CHECK(summary.at("hits").get<int64_t>() == static_cast<int64_t>(live_hits.size()));
    CHECK(summary.contains("overruns"));
    CHECK_THAT(live.err, Contains("ended after") && !Contains("ALSA lib"));
  }
}

// A CTC model without --graph: listen runs live-ctc-keywords.yaml with the words and threshold of the model's
// decoder metadata, and prints what `ossicle run` prints for that graph reading the file.
TEST_CASE("ossicle listen with a CTC model runs live-ctc-keywords.yaml (live == batch)", "[cli][live]") {
  LiveFixture& f = Fixture();
  const std::string clip = "five-zero-nine-two_en-gb-scotland_16k.wav";
  const RunResult live = RunWithTestDevices("listen --json --device " + LiveFixture::DeviceFor(clip) + " --model " +
                                            Quote(f.ctc_model) + " --duration " + DurationOf(clip) +
                                            " --set mic.ring_ms=10000");
  REQUIRE(live.exit_code == 0);
  const RunResult batch =
      RunOssicle("run " + Quote(f.ctc_twin) + " " + Quote(TestAudio(clip)) + " --set model.path=" +
                 Quote(f.ctc_model) + " --set keywords.keywords=stop,go,yes,no --set keywords.threshold=0.02");
  REQUIRE(batch.exit_code == 0);
  const auto batch_hits = OfType(JsonLines(batch.out), "hit");
  REQUIRE(batch_hits.size() >= 2);
  CheckSameHits(OfType(JsonLines(live.out), "hit"), batch_hits);
  // --keywords and --threshold replace the metadata's: one word, and a threshold no hit reaches.
  const RunResult one = RunWithTestDevices("listen --json --device " + LiveFixture::DeviceFor(clip) + " --model " +
                                           Quote(f.ctc_model) + " --duration " + DurationOf(clip) +
                                           " --set mic.ring_ms=10000 --keywords go --threshold 0.999");
  REQUIRE(one.exit_code == 0);
  CHECK(OfType(JsonLines(one.out), "hit").empty());
  CHECK(OfType(JsonLines(one.out), "summary").size() == 1);
}

TEST_CASE("ossicle listen stops cleanly on SIGTERM and SIGINT: summary printed, exit code 0", "[cli][live]") {
  LiveFixture& f = Fixture();
  for (int sig : {SIGTERM, SIGINT}) {
    INFO("signal " << sig);
    ScopedTempDir capture("ossicle-listen-signal");
    Child child("listen --device ossicle_test_stop --model " + Quote(f.model), {f.home_env}, capture.path());
    // "listening" is printed once the signal handlers are installed.
    REQUIRE(child.WaitForStderr("listening", std::chrono::seconds(60)));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let some audio flow (any amount will do)
    child.Signal(sig);
    const int code = child.Wait(std::chrono::seconds(60));
    const std::string out = child.Out(), err = child.Err();
    INFO("stdout: " << out << "\nstderr: " << err);
    CHECK(code == 0);
    CHECK_THAT(err, Contains(sig == SIGTERM ? "stopped by SIGTERM after" : "stopped by SIGINT after"));
    // The text sink's summary line ends the output: "microphone  D s, N hits, M overruns".
    REQUIRE_FALSE(out.empty());
    std::string last = out.substr(0, out.size() - 1);
    last = last.substr(last.rfind('\n') + 1);
    CHECK_THAT(last, StartsWith("microphone") && Contains(" s, ") && Contains("overruns"));
  }
}


}  // namespace
}  // namespace ossicle::test
#endif  // OSSICLE_WITH_PORTAUDIO
