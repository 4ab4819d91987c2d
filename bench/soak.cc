// Soak of the live keyword graph (issue 7): hours of audio through configs/graphs/live-keywords.yaml, faster
// than real time, watching memory, overruns and hits.
//
//   build/release/bench/soak [--minutes 120] [--model M.safetensors] [--threshold 0.1] [--report-every-s 60]
//   scripts/soak [MINUTES]                          (builds the target, then runs it at nice 15)
//
// Audio: the 16 kHz base clips of test-audio/, each followed by 1 s of silence, repeated to --minutes and
// written once as a 16-bit WAV in a temporary folder (written incrementally: 2 h = 230 MB on disk, never in
// memory). Model: without --model, the default architecture (BLSTM 2 x 128, 40 log-mel, 12 labels) with random
// weights (seed 1), as bench/listen-benchmark; a random model needs a low threshold (default 0.1) to give hits.
//
// Live pass: the graph's source.microphone stage becomes a source.file stage delivering 10 ms blocks (what the
// microphone delivers), fed as fast as the graph takes them: one session of the whole audio, as `ossicle listen`
// would run for hours. Every --report-every-s of audio a line gives the process's RSS (VmRSS) and peak RSS
// (VmHWM) from /proc/self/status, hits so far and CPU time. The summary record's overruns are reported (the
// file source cannot overrun — it waits for the graph — so anything but 0 there is a bug).
// Batch pass: the same graph over the same file with the reader's default 65536-frame blocks, as `ossicle run`
// of that graph does; its hits must equal the live pass's exactly (keyword, start, end, score).
//
// Verdicts (exit 0 when all pass, 1 otherwise):
//   rss   peak RSS at the end <= 1.05 x peak RSS at the reference point, min(10 min, a third of the audio);
//         not checked in AddressSanitizer builds (its quarantine of freed memory grows by design);
//   hits  live hits == batch hits, and at least one hit (a soak without hits proves nothing);
//   overruns  the summary's overrun count is 0.
#include <sndfile.h>
#include <time.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "features/feature-config.h"
#include "models/acoustic-model.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/graph-config.h"
#include "pipeline/graph-runner.h"

#if defined(__SANITIZE_ADDRESS__)
#define OSSICLE_SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OSSICLE_SOAK_ASAN 1
#endif
#endif
#ifndef OSSICLE_SOAK_ASAN
#define OSSICLE_SOAK_ASAN 0
#endif

namespace fs = std::filesystem;
using namespace ossicle;

namespace {

constexpr int kRate = 16000;
constexpr int kLiveBlock = 160;  // 10 ms, the microphone's default block_ms

double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// VmRSS and VmHWM of this process in kB (0 when /proc is not there).
struct Memory {
  int64_t rss_kb = 0, peak_kb = 0;
};
Memory ReadMemory() {
  Memory m;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) m.rss_kb = std::atoll(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) m.peak_kb = std::atoll(line.c_str() + 6);
  }
  return m;
}

// Writes `seconds` of clips + 1 s silence, repeated, as 16-bit mono WAV; returns the exact sample count.
int64_t WriteSoakAudio(const std::string& path, double seconds) {
  const char* clips[] = {"yes_en-us_16k.wav",        "no_en-gb-x-rp_16k.wav",        "stop_en_16k.wav",
                         "go-left_en-us_16k.wav",    "seven-two_en-029_16k.wav",     "three-one-four_en-gb_16k.wav",
                         "yes_en-f3_16k.wav",        "five-zero-nine-two_en-gb-scotland_16k.wav"};
  std::vector<std::vector<float>> pieces;
  for (const char* clip : clips) {
    std::vector<float> x = ReadAudioFile(std::string(OSSICLE_SOURCE_DIR) + "/test-audio/" + clip);
    x.insert(x.end(), static_cast<size_t>(kRate), 0.0f);
    pieces.push_back(std::move(x));
  }
  SF_INFO info{};
  info.samplerate = kRate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (f == nullptr) throw std::runtime_error(path + ": cannot open for writing: " + sf_strerror(nullptr));
  const auto total = static_cast<int64_t>(std::llround(seconds * kRate));
  int64_t written = 0;
  for (size_t i = 0; written < total; i = (i + 1) % pieces.size()) {
    const int64_t n = std::min<int64_t>(total - written, static_cast<int64_t>(pieces[i].size()));
    if (sf_write_float(f, pieces[i].data(), n) != n) {
      sf_close(f);
      throw std::runtime_error(path + ": write failed (disk full?)");
    }
    written += n;
  }
  sf_close(f);
  return written;
}

struct Hit {
  int keyword = 0;
  double start_s = 0, end_s = 0, score = 0;
  bool operator==(const Hit&) const = default;
};

// Keyword names as small indices, so the live pass's hit list stays compact.
struct KeywordIds {
  std::map<std::string, int> ids;
  std::vector<std::string> names;
  int Id(const std::string& k) {
    auto [it, added] = ids.emplace(k, static_cast<int>(names.size()));
    if (added) names.push_back(k);
    return it->second;
  }
};

// The live graph with its microphone stage replaced by a file source of `block_frames` blocks.
std::shared_ptr<const Graph> BuildGraph(const std::string& graph_path, const std::string& model, double threshold,
                                        int64_t block_frames) {
  YAML::Node root = YAML::LoadFile(graph_path);
  for (YAML::Node stage : root["stages"]) {
    const std::string type = stage["type"].as<std::string>();
    if (type == "source.microphone") {
      YAML::Node options;
      options["paths"] = YAML::Load("[]");
      options["sample_rate_hz"] = kRate;
      if (block_frames > 0) options["block_frames"] = block_frames;
      stage["type"] = "source.file";
      stage["options"] = options;
    } else if (type == "sink.text") {
      stage["options"]["path"] = "/dev/null";
    }
  }
  const std::vector<std::string> overrides = {"model.path=" + model, "keywords.threshold=" + std::to_string(threshold)};
  return Graph::Build(ParseGraphConfig(root, YamlSource{graph_path, fs::path(graph_path).parent_path()}, overrides));
}

int Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--minutes M (120)] [--model M.safetensors] [--graph G.yaml] [--threshold T (0.1)]\n"
               "          [--report-every-s S (60)]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  double minutes = 120.0, threshold = 0.1, report_every_s = 60.0;
  std::string model;
  std::string graph_path = std::string(OSSICLE_SOURCE_DIR) + "/configs/graphs/live-keywords.yaml";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage(argv[0]);
    if (a == "--minutes") {
      minutes = std::atof(argv[++i]);
    } else if (a == "--model") {
      model = argv[++i];
    } else if (a == "--graph") {
      graph_path = argv[++i];
    } else if (a == "--threshold") {
      threshold = std::atof(argv[++i]);
    } else if (a == "--report-every-s") {
      report_every_s = std::atof(argv[++i]);
    } else {
      return Usage(argv[0]);
    }
  }
  if (!(minutes > 0.0 && minutes <= 24 * 60.0) || !(report_every_s > 0.0)) {
    std::fprintf(stderr, "error: --minutes must be in (0, 1440] and --report-every-s > 0\n");
    return 2;
  }
  const fs::path dir = fs::temp_directory_path() / ("ossicle-soak-" + std::to_string(getpid()));
  fs::create_directories(dir);
  struct Cleanup {
    fs::path d;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{dir};
  if (model.empty()) {
    const ModelArchitecture arch;  // the defaults
    const std::vector<std::string> labels = {"_silence_", "_unknown_", "yes", "no",  "up",   "down",
                                             "left",      "right",     "on",  "off", "stop", "go"};
    model = (dir / "default-arch.safetensors").string();
    AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(40), labels, 1)->Save(model);
  }
  const std::string audio = (dir / "soak.wav").string();
  const int64_t samples = WriteSoakAudio(audio, minutes * 60.0);
  const double audio_s = static_cast<double>(samples) / kRate;
  std::printf("soak: %.1f min of audio (%s), graph %s, model %s, threshold %g\n", audio_s / 60, audio.c_str(),
              graph_path.c_str(), model.c_str(), threshold);

  // Live pass.
  KeywordIds keywords;
  std::vector<Hit> live_hits;
  int64_t overruns = 0;
  bool summary_seen = false;
  {
    const auto graph = BuildGraph(graph_path, model, threshold, kLiveBlock);
    const double ref_s = std::min(600.0, audio_s / 3);
    const auto polls_per_report = static_cast<int64_t>(std::llround(report_every_s * kRate / kLiveBlock));
    const auto ref_poll = static_cast<int64_t>(std::llround(ref_s * kRate / kLiveBlock));
    int64_t polls = 0;
    Memory ref_mem;
    const double cpu0 = CpuSeconds();
    const auto wall0 = std::chrono::steady_clock::now();
    auto report = [&](double at_s) {
      const Memory m = ReadMemory();
      std::printf("  audio %7.1f min  RSS %8.1f MB  peak %8.1f MB  hits %6zu  CPU %7.1f s  wall %7.1f s\n", at_s / 60,
                  static_cast<double>(m.rss_kb) / 1024, static_cast<double>(m.peak_kb) / 1024, live_hits.size(),
                  CpuSeconds() - cpu0,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count());
      std::fflush(stdout);
    };
    std::printf("live pass (%d-sample blocks):\n", kLiveBlock);
    graph->RunFile(
        audio,
        [&](const nlohmann::json& r) {
          const std::string type = r.value("type", "");
          if (type == "hit") {
            live_hits.push_back(Hit{keywords.Id(r.value("keyword", "")), r.value("start_s", 0.0),
                                    r.value("end_s", 0.0), r.value("score", 0.0)});
          } else if (type == "summary") {
            summary_seen = true;
            overruns = r.value("overruns", int64_t{0});
          }
        },
        [&] {
          ++polls;
          if (polls == ref_poll) {
            ref_mem = ReadMemory();
            std::printf("  (reference point for peak RSS: %.1f min)\n", ref_s / 60);
          }
          if (polls % polls_per_report == 0) report(static_cast<double>(polls * kLiveBlock) / kRate);
          return false;
        });
    report(audio_s);
    const Memory end_mem = ReadMemory();
    const double cpu = CpuSeconds() - cpu0;
    std::printf("live pass: %.1f s of audio in %.1f s CPU (%.0fx real time on one core), %zu hits, %lld overruns%s\n",
                audio_s, cpu, audio_s / cpu, live_hits.size(), static_cast<long long>(overruns),
                summary_seen ? "" : " (no summary record!)");
    const double growth = ref_mem.peak_kb > 0 ? static_cast<double>(end_mem.peak_kb - ref_mem.peak_kb) /
                                                    static_cast<double>(ref_mem.peak_kb)
                                              : 0.0;
    std::printf("peak RSS: %.1f MB at %.1f min, %.1f MB at the end: %+.2f%% (bound +5%%)\n",
                static_cast<double>(ref_mem.peak_kb) / 1024, ref_s / 60, static_cast<double>(end_mem.peak_kb) / 1024,
                100 * growth);
    const bool rss_ok = OSSICLE_SOAK_ASAN || ref_mem.peak_kb == 0 || growth <= 0.05;

    // Batch pass.
    std::vector<Hit> batch_hits;
    const auto batch = BuildGraph(graph_path, model, threshold, 0);
    const double bcpu0 = CpuSeconds();
    batch->RunFile(audio, [&](const nlohmann::json& r) {
      if (r.value("type", "") == "hit") {
        batch_hits.push_back(Hit{keywords.Id(r.value("keyword", "")), r.value("start_s", 0.0), r.value("end_s", 0.0),
                                 r.value("score", 0.0)});
      }
    });
    std::printf("batch pass (65536-frame blocks): %zu hits in %.1f s CPU\n", batch_hits.size(), CpuSeconds() - bcpu0);
    size_t first_diff = std::min(live_hits.size(), batch_hits.size());
    for (size_t i = 0; i < std::min(live_hits.size(), batch_hits.size()); ++i) {
      if (!(live_hits[i] == batch_hits[i])) {
        first_diff = i;
        break;
      }
    }
    const bool hits_equal = live_hits == batch_hits;
    if (!hits_equal) {
      auto show = [&](const char* what, const std::vector<Hit>& h) {
        if (first_diff >= h.size()) {
          std::printf("  %s: no hit #%zu\n", what, first_diff);
        } else {
          const Hit& x = h[first_diff];
          std::printf("  %s hit #%zu: %s %.3f-%.3f s score %.9g\n", what, first_diff,
                      keywords.names[static_cast<size_t>(x.keyword)].c_str(), x.start_s, x.end_s, x.score);
        }
      };
      show("live", live_hits);
      show("batch", batch_hits);
    }

    std::printf("verdict: rss %s, hits %s, overruns %s\n",
                OSSICLE_SOAK_ASAN ? "not checked (AddressSanitizer build)" : (rss_ok ? "PASS" : "FAIL"),
                hits_equal && !live_hits.empty() ? "PASS (live == batch)"
                                                 : (live_hits.empty() ? "FAIL (no hits)" : "FAIL (live != batch)"),
                overruns == 0 && summary_seen ? "PASS (0)" : "FAIL");
    return rss_ok && hits_equal && !live_hits.empty() && overruns == 0 && summary_seen ? 0 : 1;
  }
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
