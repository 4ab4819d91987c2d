// Running graphs: records do not depend on the block size, per-segment runs equal running the model on
// each segment by hand, RunFile is thread-safe, errors become exceptions / error records, sinks write
// what they were given.
#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

#include "features/energy-vad.h"
#include "features/errors.h"
#include "features/online-features.h"
#include "models/kws-decoder.h"
#include "models/model-stream.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/graph-runner.h"
#include "pipeline/graph-test-support.h"
#include "pipeline/npy-file.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using test::HasMessage;

std::vector<nlohmann::json> RunRecords(const Graph& g, const std::string& file) {
  std::vector<nlohmann::json> records;
  g.RunFile(file, [&](const nlohmann::json& r) { records.push_back(r); });
  return records;
}

int Count(const std::vector<nlohmann::json>& records, const std::string& type) {
  return static_cast<int>(std::count_if(records.begin(), records.end(), [&](const auto& r) { return r["type"] == type; }));
}

// Keyword model over 3 classes with a low threshold so that a random-weight model gives hits, plus a CTC
// greedy decoder on a second model, both fed by one front end.
struct GraphFixture {
  test::ScopedTempDir tmp{"ossicle-graph-run"};
  std::string kws = test::WriteTestModel(tmp.path(), "kws.safetensors", FeatureConfig::KaldiFbank(40),
                                         {"_silence_", "yes", "no"}, true, CellType::kLstm, 3);
  std::string ctc = test::WriteTestModel(tmp.path(), "ctc.safetensors", FeatureConfig::KaldiFbank(40),
                                         {"<blank>", "|", "a", "b"}, false, CellType::kGru, 5);

  std::string Graph(const std::string& extra_model_input = "", const std::string& mode = "chunked") {
    return test::WriteText(tmp.path() / "g.yaml", R"(stages:
  - {name: audio, type: source.file}
  - {name: vad, type: vad.energy, input: audio, options: {min_silence_ms: 200, hangover_ms: 100}}
  - {name: fbank, type: features.fbank, input: audio}
  - name: model
    type: model.rnn
    input: [fbank)" + extra_model_input + R"(]
    options: {path: kws.safetensors, mode: )" + mode + R"(, chunk_frames: 16, right_context_frames: 4}
  - {name: kws, type: decoder.keywords, input: model, options: {threshold: 0.3, smoothing_ms: 30, window_ms: 100, suppression_ms: 200}}
  - {name: ctc_model, type: model.rnn, input: fbank, options: {path: ctc.safetensors}}
  - {name: text, type: decoder.ctc_greedy, input: ctc_model}
  - {name: out, type: sink.jsonl, input: [kws, text], options: {path: out.jsonl}}
)");
  }
};

TEST_CASE("records do not depend on the source's block size", "[graph][run]") {
  GraphFixture f;
  const std::string file = test::TestAudio("go-left_en-us_16k.wav");
  for (const char* gate : {"", ", vad"}) {
    INFO("model input: fbank" << gate);
    const std::string yaml = f.Graph(gate);
    const auto reference = RunRecords(*Graph::Load(yaml), file);
    REQUIRE(Count(reference, "hit") > 0);  // the comparison means something
    REQUIRE(Count(reference, "transcript") == 1);
    REQUIRE(Count(reference, "summary") == 1);
    CHECK(reference.back()["type"] == "summary");
    CHECK(reference.back()["hits"] == Count(reference, "hit"));
    for (int block : {1, 7, 160, 1013}) {
      INFO("chunk_samples " << block);
      CHECK(RunRecords(*Graph::Load(yaml, {"audio.chunk_samples=" + std::to_string(block)}), file) == reference);
    }
  }
}

TEST_CASE("with vad.energy the model runs once per speech segment and skips silence", "[graph][run]") {
  GraphFixture f;
  const std::string file = test::TestAudio("seven-two_en-029_16k.wav");
  auto g = Graph::Load(f.Graph(", vad", "offline"));
  const auto records = RunRecords(*g, file);

  // By hand: segments of the whole file, features of the whole file, the model offline over each
  // segment's frames (centre sample inside the segment), the decoder over those posteriors.
  const std::vector<float> audio = ReadAudioFile(file);
  EnergyVadConfig vad_config;
  vad_config.min_silence_ms = 200;
  vad_config.hangover_ms = 100;
  EnergyVad vad(vad_config, 16000.0);
  std::vector<SpeechSegment> segments = vad.AcceptWaveform(audio);
  for (const auto& s : vad.InputFinished()) segments.push_back(s);
  REQUIRE(!segments.empty());
  const FeatureConfig fc = FeatureConfig::KaldiFbank(40);
  const FeatureMatrix features = ComputeFeatures(fc, audio);
  auto model = AcousticModel::Load(f.kws);
  KwsDecoderConfig kws_config;
  kws_config.threshold = 0.3;
  kws_config.smoothing_ms = 30;
  kws_config.window_ms = 100;
  kws_config.suppression_ms = 200;
  KwsDecoder kws(kws_config, model->Labels(), 0.01);
  std::vector<KeywordHit> hits;
  int64_t speech_frames = 0;
  for (const SpeechSegment& s : segments) {
    std::vector<int64_t> frames;
    for (int64_t t = 0; t < features.num_frames; ++t) {
      const int64_t centre = FrameStart(fc.frame, t) + fc.frame.WindowSamples() / 2;
      if (centre >= s.start_sample && centre < s.end_sample) frames.push_back(t);
    }
    if (frames.empty()) continue;
    speech_frames += static_cast<int64_t>(frames.size());
    MatrixF x(static_cast<Eigen::Index>(frames.size()), 40);
    for (size_t i = 0; i < frames.size(); ++i) {
      for (int d = 0; d < 40; ++d) x(static_cast<Eigen::Index>(i), d) = features.Row(frames[i])[static_cast<size_t>(d)];
    }
    const ModelOutput y = model->Forward(SingleSequence(x));
    MatrixF lp = y.log_probs.data.topRows(x.rows());
    for (const auto& h : kws.AcceptFrames(lp, frames.front())) hits.push_back(h);
    for (const auto& h : kws.InputFinished()) hits.push_back(h);
  }
  CHECK(speech_frames < features.num_frames);  // silence was skipped
  std::vector<nlohmann::json> got;
  for (const auto& r : records) {
    if (r["type"] == "hit") got.push_back(r);
  }
  REQUIRE(got.size() == hits.size());
  const double offset = 0.0075;  // Kaldi 25 ms / 10 ms frames: decoder times shifted to window centres
  for (size_t i = 0; i < hits.size(); ++i) {
    CHECK(got[i]["keyword"] == hits[i].keyword);
    CHECK(got[i]["start_s"].get<double>() == Approx(hits[i].start_s + offset).margin(1e-4));
    CHECK(got[i]["end_s"].get<double>() == Approx(hits[i].end_s + offset).margin(1e-4));
    CHECK(got[i]["score"].get<double>() == Approx(hits[i].score).epsilon(1e-5));
  }
}

TEST_CASE("RunFile from several threads gives each file's records", "[graph][run][threads]") {
  GraphFixture f;
  auto g = Graph::Load(f.Graph());
  const std::vector<std::string> files = {test::TestAudio("yes_en-us_16k.wav"), test::TestAudio("no_en-gb-x-rp_16k.wav"),
                                          test::TestAudio("go-left_en-us_16k.wav")};
  std::vector<std::vector<nlohmann::json>> serial, parallel(files.size());
  for (const auto& file : files) serial.push_back(RunRecords(*g, file));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < files.size(); ++i) threads.emplace_back([&, i] { parallel[i] = RunRecords(*g, files[i]); });
  for (auto& t : threads) t.join();
  CHECK(parallel == serial);
  CHECK(serial[0].back()["file"] == files[0]);
  CHECK(serial[0].back()["duration_s"].get<double>() == Approx(1.11425));
}

TEST_CASE("a bad input: RunFile throws, Run writes an error record and goes on", "[graph][run]") {
  GraphFixture f;
  auto g = Graph::Load(f.Graph());
  const std::string missing = (f.tmp.path() / "missing.wav").string();
  CHECK_THROWS_MATCHES(RunRecords(*g, missing), AudioError, HasMessage("missing.wav: cannot open"));

  GraphRunOptions opt;
  opt.inputs = {missing, test::TestAudio("yes_en-us_16k.wav")};
  opt.exit_code_for = [](const std::exception&) { return 4; };
  std::vector<nlohmann::json> seen;
  opt.on_record = [&](const nlohmann::json& r) { seen.push_back(r); };
  CHECK(g->Run(opt) == 4);
  REQUIRE(!seen.empty());
  CHECK(seen.front()["type"] == "error");
  CHECK(seen.front()["exit_code"] == 4);
  CHECK(seen.back()["type"] == "summary");
  // The JSON lines sink holds the same records, written complete (no temporary left behind).
  std::ifstream in(f.tmp.path() / "out.jsonl");
  std::vector<nlohmann::json> written;
  for (std::string line; std::getline(in, line);) written.push_back(nlohmann::json::parse(line));
  CHECK(written == seen);
  CHECK_FALSE(fs::exists(f.tmp.path() / "out.jsonl.tmp"));
}

TEST_CASE("a stop request ends the input early and still writes its summary", "[graph][run]") {
  GraphFixture f;
  auto g = Graph::Load(f.Graph(), {"audio.block_frames=1600"});
  int polls = 0;
  std::vector<nlohmann::json> records;
  g->RunFile(test::TestAudio("go-left_en-us_16k.wav"), [&](const nlohmann::json& r) { records.push_back(r); },
             [&] { return ++polls > 3; });
  REQUIRE(records.back()["type"] == "summary");
  CHECK(records.back()["duration_s"].get<double>() == Approx(0.3));  // 3 blocks of 0.1 s
}

TEST_CASE("sinks write features, audio, CSV and text", "[graph][run][sinks]") {
  GraphFixture f;
  const std::string file = test::TestAudio("yes_en-us_16k.wav");
  const std::string yaml = test::WriteText(f.tmp.path() / "sinks.yaml", R"(stages:
  - {name: audio, type: source.file}
  - {name: fbank, type: features.fbank, input: audio}
  - {name: model, type: model.rnn, input: fbank, options: {path: kws.safetensors}}
  - {name: kws, type: decoder.keywords, input: model, options: {threshold: 0.3}}
  - {name: npy, type: sink.npy, input: fbank, options: {dir: npy}}
  - {name: wav, type: sink.wav, input: audio, options: {path: copy.wav}}
  - {name: csv, type: sink.csv, input: kws, options: {path: out.csv}}
  - {name: txt, type: sink.text, input: kws, options: {path: out.txt}}
)");
  auto g = Graph::Load(yaml);
  GraphRunOptions opt;
  opt.inputs = {file};
  REQUIRE(g->Run(opt) == 0);
  // Features: exactly the whole-file computation.
  const NpyMatrix npy = ReadNpy((f.tmp.path() / "npy" / "yes_en-us_16k.npy").string());
  const FeatureMatrix want = ComputeFeatures(FeatureConfig::KaldiFbank(40), ReadAudioFile(file));
  REQUIRE(npy.Rows() == want.num_frames);
  CHECK(npy.data == want.data);
  // Audio: a PCM-16 file read and written as PCM-16 is the same samples.
  CHECK(ReadAudioFile((f.tmp.path() / "copy.wav").string()) == ReadAudioFile(file));
  const std::string csv = test::ReadWholeFile(f.tmp.path() / "out.csv");
  CHECK(csv.rfind("type,file,keyword,start_s,end_s,score,text,confidence,duration_s,hits,error\n", 0) == 0);
  CHECK(csv.find("summary," + file + ",,,,,,,1.11425,") != std::string::npos);
  const std::string txt = test::ReadWholeFile(f.tmp.path() / "out.txt");
  CHECK(txt.find(file + "  1.11 s, ") != std::string::npos);
}

}  // namespace
}  // namespace ossicle
