// Latency and cost of the live keyword graph (configs/graphs/live-keywords.yaml), without a microphone.
//
//   build/release/bench/listen-benchmark [--model M.safetensors] [--seconds 60] [--set STAGE.KEY=VALUE ...]
//
// The graph's source.microphone stage is replaced by a source.file stage that reads 10 ms blocks (what the
// microphone delivers), and the audio is fed as fast as the graph takes it. Audio: the 16 kHz base clips of
// test-audio/, each followed by 1 s of silence, repeated to --seconds.
//   cost     = process CPU time / audio duration (fraction of one core in real time);
//   latency  = stream time at which a hit is emitted - the hit's end_s. The stream time is counted in
//              source blocks: the file source polls the stop flag once per block, so the number of polls
//              when a hit arrives is the number of blocks the graph has received (exact to one block).
// Without --model, a random-weight model of the default architecture (ModelArchitecture defaults: BLSTM,
// 2 x 128, 40 log-mel inputs, 12 speech-commands labels) is used: cost does not depend on the weights, and
// the delay between a hit's end and its emission comes from the model's chunking and the decoder's
// windows, not from the weights. A random model needs a low threshold to produce hits (--set).
#include <sndfile.h>
#include <time.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "features/feature-config.h"
#include "models/acoustic-model.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/graph-config.h"
#include "pipeline/graph-runner.h"

namespace fs = std::filesystem;
using namespace ossicle;

namespace {

double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

constexpr int kRate = 16000;
constexpr int kBlock = 160;  // 10 ms, the microphone's default block_ms

std::string WriteBenchAudio(const fs::path& dir, double seconds) {
  const char* clips[] = {"yes_en-us_16k.wav",        "no_en-gb-x-rp_16k.wav",        "stop_en_16k.wav",
                         "go-left_en-us_16k.wav",    "seven-two_en-029_16k.wav",     "three-one-four_en-gb_16k.wav",
                         "yes_en-f3_16k.wav",        "five-zero-nine-two_en-gb-scotland_16k.wav"};
  std::vector<float> all;
  while (static_cast<double>(all.size()) < seconds * kRate) {
    for (const char* clip : clips) {
      const std::vector<float> x = ReadAudioFile(std::string(OSSICLE_SOURCE_DIR) + "/test-audio/" + clip);
      all.insert(all.end(), x.begin(), x.end());
      all.insert(all.end(), static_cast<size_t>(kRate), 0.0f);
    }
  }
  const std::string path = (dir / "bench.wav").string();
  SF_INFO info{};
  info.samplerate = kRate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  sf_write_float(f, all.data(), static_cast<sf_count_t>(all.size()));
  sf_close(f);
  return path;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model;
  std::string graph_path = std::string(OSSICLE_SOURCE_DIR) + "/configs/graphs/live-keywords.yaml";
  double seconds = 60.0;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--model" && i + 1 < argc) {
      model = argv[++i];
    } else if (a == "--graph" && i + 1 < argc) {
      graph_path = argv[++i];
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--set" && i + 1 < argc) {
      overrides.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--model M] [--graph G] [--seconds S] [--set STAGE.KEY=VALUE]...\n", argv[0]);
      return 2;
    }
  }
  const fs::path dir = fs::temp_directory_path() / ("ossicle-listen-bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  if (model.empty()) {
    ModelArchitecture arch;  // the defaults
    std::vector<std::string> labels = {"_silence_", "_unknown_", "yes", "no",  "up", "down",
                                       "left",      "right",     "on",  "off", "stop", "go"};
    model = (dir / "default-arch.safetensors").string();
    AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(40), labels, 1)->Save(model);
  }
  const std::string audio = WriteBenchAudio(dir, seconds);

  YAML::Node root = YAML::LoadFile(graph_path);
  std::string mic_name;
  for (YAML::Node stage : root["stages"]) {
    if (stage["type"].as<std::string>() != "source.microphone") continue;
    mic_name = stage["name"].as<std::string>();
    YAML::Node options;
    options["paths"] = YAML::Load("[]");
    options["sample_rate_hz"] = kRate;
    options["block_frames"] = kBlock;
    stage["type"] = "source.file";
    stage["options"] = options;
  }
  for (YAML::Node stage : root["stages"]) {
    if (stage["type"].as<std::string>() == "sink.text") stage["options"]["path"] = "/dev/null";
  }
  overrides.insert(overrides.begin(), "model.path=" + model);
  const GraphConfig config = ParseGraphConfig(root, YamlSource{graph_path, fs::path(graph_path).parent_path()}, overrides);
  const auto graph = Graph::Build(config);

  int64_t polls = 0;
  std::vector<double> latencies;
  const double cpu0 = CpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  graph->RunFile(
      audio,
      [&](const nlohmann::json& r) {
        if (r.value("type", "") != "hit") return;
        const double emitted_s = static_cast<double>(polls * kBlock) / kRate;
        latencies.push_back(emitted_s - r.value("end_s", 0.0));
      },
      [&] {
        ++polls;
        return false;
      });
  const double cpu = CpuSeconds() - cpu0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double audio_s = ProbeAudioFile(audio).duration_s;
  std::printf("graph %s (source '%s' -> file, %d-sample blocks), model %s\n", graph_path.c_str(), mic_name.c_str(),
              kBlock, model.c_str());
  std::printf("audio %.1f s: CPU %.3f s = %.2f%% of one core (wall %.3f s, %.0fx real time)\n", audio_s, cpu,
              100.0 * cpu / audio_s, wall, audio_s / wall);
  std::sort(latencies.begin(), latencies.end());
  if (latencies.empty()) {
    std::printf("no hits: latency not measured (lower the threshold with --set keywords.threshold=...)\n");
  } else {
    auto q = [&](double p) {
      return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * static_cast<double>(latencies.size())))];
    };
    std::printf("hits %zu: emitted after the hit's end by min %.0f ms, median %.0f ms, p95 %.0f ms, max %.0f ms\n",
                latencies.size(), 1000 * latencies.front(), 1000 * q(0.5), 1000 * q(0.95), 1000 * latencies.back());
  }
  fs::remove_all(dir);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
