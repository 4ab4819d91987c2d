// End-to-end tests of `ossicle model import-torch | info | run` with the real binary: PyTorch state_dict exports
// (tests/data/models, made by make_lstm_golden.py) imported, described and run, the outputs compared with
// PyTorch's own log-probabilities; damaged model files and mismatched inputs refused with their exit codes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "apps/run-ossicle.h"
#include "models/safetensors.h"
#include "pipeline/graph-test-support.h"
#include "pipeline/npy-file.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using test::RunOssicle;
using test::RunResult;
using test::TestAudio;

std::string TorchExport(const std::string& name) {
  return std::string(OSSICLE_TEST_DATA_DIR) + "/models/" + name + ".safetensors";
}

constexpr const char* kLabels = "_silence_,_unknown_,yes,no,up,down,left,right,on,off,stop,go";

// Imports lstm_bi_2layer (LSTM, F 40, H 32, 2 layers, bidirectional, 12 classes) with kaldi-fbank features.
std::string ImportLstmBi(const fs::path& dir) {
  const std::string model = (dir / "lstm_bi.safetensors").string();
  const RunResult r = RunOssicle("model import-torch " + TorchExport("lstm_bi_2layer") +
                                 " --features-preset kaldi-fbank --labels " + kLabels + " --out " + model);
  REQUIRE(r.exit_code == 0);
  return model;
}

// No output and no temporary file left in `dir` besides `keep`.
void CheckNothingWritten(const fs::path& dir, const std::vector<std::string>& keep) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    INFO(name);
    CHECK(std::find(keep.begin(), keep.end(), name) != keep.end());
  }
}

using test::MaxAbsDiff;

TEST_CASE("ossicle model --help shows every default", "[cli][model]") {
  RunResult r = RunOssicle("--help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("model"));
  r = RunOssicle("model run --help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("--mode") && Contains("=auto") && Contains("--chunk-frames") && Contains("=64") &&
                        Contains("--right-context-frames") && Contains("=16") && Contains("--window-frames") &&
                        Contains("=200") && Contains("--hop-frames") && Contains("=100"));
  r = RunOssicle("model import-torch --help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("--features-preset") && Contains("=kaldi-fbank") && Contains("--labels-file"));
  CHECK(RunOssicle("model").exit_code == 2);                                // a subcommand is required
  CHECK(RunOssicle("model run m.safetensors --out x.npy").exit_code == 2);  // --input or --audio
  CHECK(RunOssicle("model run m.safetensors --input a.npy --audio b.wav --out x.npy").exit_code == 2);
  CHECK(RunOssicle("model run m.safetensors --input a.npy --out x.npy --chunk-frames 0").exit_code == 2);
}

TEST_CASE("ossicle model import-torch infers the architecture, model info describes the result", "[cli][model]") {
  test::ScopedTempDir tmp;
  const std::string model = (tmp.path() / "lstm_bi.safetensors").string();
  RunResult r = RunOssicle("model import-torch " + TorchExport("lstm_bi_2layer") +
                           " --features-preset kaldi-fbank --labels " + kLabels + " --out " + model);
  REQUIRE(r.exit_code == 0);
  const std::string arch = "LSTM, 2 layers, hidden 32, bidirectional, input 40, 12 classes, frame head";
  CHECK_THAT(r.out, Contains(TorchExport("lstm_bi_2layer") + ": " + arch + "; 44812 parameters"));
  // The golden's inputs, outputs, losses and gradients (48 tensors) are not parameters: listed, not imported.
  CHECK_THAT(r.out, Contains("ignored 48 tensors that are not model parameters: ce_loss, ce_targets,"));
  for (const char* name : {" input,", " lengths,", " log_probs,", " logits,", " rnn_output\n", " grad_ce.input,",
                           " grad_ctc.rnn.weight_ih_l1_reverse,"}) {
    CHECK_THAT(r.out, Contains(name));
  }
  CHECK_THAT(r.out, Contains("features: 40 values per frame (mel.num_mel_bins = 40, deltas.order = 0)"));
  CHECK_THAT(r.out, Contains("-> " + model));

  // Parameters: per layer and direction 4H x (input + H + 2 biases); the head C x (2H + 1).
  // 2 * 128 * (40 + 32 + 2) + 2 * 128 * (64 + 32 + 2) + 12 * 65 = 44812.
  r = RunOssicle("model info " + model);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("architecture: " + arch));
  CHECK_THAT(r.out, Contains("parameters: 44812"));
  CHECK_THAT(r.out, Contains("labels (12): _silence_, _unknown_, yes, no, up, down, left, right, on, off, stop, go"));
  CHECK_THAT(r.out, Contains("features (40 values per frame): {type: fbank, frame: {sample_rate_hz: 16000") &&
                        Contains("mel: {num_mel_bins: 40"));
  CHECK_THAT(r.out, Contains("provenance: {\"imported_from\":\"" + TorchExport("lstm_bi_2layer") + "\""));

  r = RunOssicle("model info --json " + model);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j.at("path") == model);
  CHECK(j.at("architecture").at("cell") == "lstm");
  CHECK(j.at("architecture").at("num_layers") == 2);
  CHECK(j.at("architecture").at("hidden_size") == 32);
  CHECK(j.at("architecture").at("bidirectional") == true);
  CHECK(j.at("architecture").at("input_size") == 40);
  CHECK(j.at("architecture").at("num_classes") == 12);
  CHECK(j.at("num_parameters") == 44812);
  CHECK(j.at("labels").size() == 12);
  CHECK(j.at("labels").at(10) == "stop");
  CHECK(j.at("features").at("mel").at("num_mel_bins") == 40);
  CHECK(j.at("provenance").at("imported_from") == TorchExport("lstm_bi_2layer"));

  // A unidirectional GRU with MFCC features (13 values per frame) and labels from a file; default labels
  // are the class numbers.
  const fs::path labels = tmp.path() / "labels.txt";
  std::ofstream(labels) << "<blank>\r\na\nb\n\nc\nd\n";  // CRLF and blank lines are tolerated
  const std::string gru = (tmp.path() / "gru.safetensors").string();
  r = RunOssicle("model import-torch " + TorchExport("gru_uni_2layer") +
                 " --features-preset kaldi-mfcc --labels-file " + labels.string() + " --out " + gru);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("GRU, 2 layers, hidden 16, unidirectional, input 13, 5 classes, frame head"));
  CHECK_THAT(r.out, Contains("labels: <blank>, a, b, c, d"));
  CHECK_THAT(r.out, Contains("(mfcc.num_ceps = 13, deltas.order = 0)"));
  r = RunOssicle("model import-torch " + TorchExport("gru_uni_2layer") + " --features-preset kaldi-mfcc --out " + gru);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("labels: 0, 1, 2, 3, 4"));
}

TEST_CASE("ossicle model import-torch refuses features and labels that do not fit the model", "[cli][model][errors]") {
  test::ScopedTempDir tmp;
  const std::string out = (tmp.path() / "m.safetensors").string();
  RunResult r = RunOssicle("model import-torch " + TorchExport("lstm_bi_2layer") +
                           " --features-preset kaldi-fbank --set mel.num_mel_bins=80 --out " + out);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("error: " + TorchExport("lstm_bi_2layer") +
                             ": the model's input size is 40 but the features have 80 values per frame "
                             "(mel.num_mel_bins = 80, deltas.order = 0)"));
  CHECK(r.out.empty());

  r = RunOssicle("model import-torch " + TorchExport("lstm_bi_2layer") +
                 " --features-preset kaldi-mfcc --set deltas.order=2 --out " + out);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("the model's input size is 40 but the features have 39 values per frame "
                             "(mfcc.num_ceps = 13, deltas.order = 2)"));

  r = RunOssicle("model import-torch " + TorchExport("lstm_bi_2layer") + " --labels yes,no,up --out " + out);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("3 labels given for a model with 12 classes"));

  r = RunOssicle("model import-torch " + TorchExport("lstm_bi_2layer") + " --set mel.num_mel_bins=0 --out " + out);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("mel.num_mel_bins = 0; expected between 1 and 1024"));

  // A state_dict whose modules are not named `rnn` and `out` says what it expected.
  SafetensorsWriter other((tmp.path() / "encoder.safetensors").string());
  other.AddF32("encoder.weight_ih_l0", {128, 40}, std::vector<float>(128 * 40, 0.0f));
  other.Close();
  r = RunOssicle("model import-torch " + (tmp.path() / "encoder.safetensors").string() + " --out " + out);
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Contains("encoder.safetensors: no tensor 'rnn.weight_ih_l0'; expected an nn.LSTM or nn.GRU under "
                             "'rnn.' and an nn.Linear under 'out.'"));
  fs::remove(tmp.path() / "encoder.safetensors");

  r = RunOssicle("model import-torch " + TorchExport("lstm_bi_2layer") + " --labels-file " +
                 (tmp.path() / "missing.txt").string() + " --out " + out);
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("missing.txt: cannot open labels file"));

  CheckNothingWritten(tmp.path(), {});
}

// The binary reproduces PyTorch end to end: each golden sequence (its first lengths[b] frames) written as a
// .npy, run through `ossicle model run --input`, equals PyTorch's log-probabilities (float64 from the same
// float32 weights) within 1e-5.
TEST_CASE("ossicle model run --input reproduces PyTorch's log-probabilities", "[cli][model][golden]") {
  test::ScopedTempDir tmp;
  struct Case {
    std::string name, features;
  };
  const Case cases[] = {
      {"lstm_bi_2layer", "--features-preset kaldi-fbank"},
      {"gru_bi_2layer", "--features-preset kaldi-fbank"},
      {"gru_uni_2layer", "--features-preset kaldi-mfcc"},
      {"lstm_uni_1layer", "--features-preset kaldi-mfcc --set mfcc.num_ceps=5"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string model = (tmp.path() / (c.name + ".safetensors")).string();
    REQUIRE(RunOssicle("model import-torch " + TorchExport(c.name) + " " + c.features + " --out " + model).exit_code ==
            0);
    const SafetensorsFile golden = SafetensorsFile::Open(TorchExport(c.name));
    const std::vector<int64_t> shape = golden.Info("input").shape;         // [B, T, F]
    const std::vector<int64_t> lp_shape = golden.Info("log_probs").shape;  // [B, T, C]
    REQUIRE(shape.size() == 3);
    REQUIRE(lp_shape.size() == 3);
    const int64_t batch = shape[0], frames = shape[1], dims = shape[2], classes = lp_shape[2];
    const std::vector<float> input = golden.ReadFloat("input");
    const std::vector<int64_t> lengths = golden.ReadInt("lengths", {batch});
    const std::vector<double> log_probs = golden.ReadDouble("log_probs", {batch, frames, classes});
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t n = lengths[static_cast<size_t>(b)];
      INFO("sequence " << b << " (" << n << " frames)");
      const fs::path in = tmp.path() / "in.npy", out = tmp.path() / "out.npy";
      NpyWriter writer(in.string(), static_cast<int>(dims));
      writer.AppendRows(
          std::span<const float>(input).subspan(static_cast<size_t>(b * frames * dims), static_cast<size_t>(n * dims)));
      writer.Close();
      const RunResult r = RunOssicle("model run " + model + " --input " + in.string() + " --out " + out.string());
      REQUIRE(r.exit_code == 0);
      CHECK_THAT(r.out, Contains(in.string() + ": " + std::to_string(n) + " frames x " + std::to_string(classes) +
                                 " classes -> " + out.string()));
      const NpyMatrix got = ReadNpy(out.string());
      REQUIRE(got.shape == std::vector<int64_t>{n, classes});
      double worst = 0.0;
      int64_t worst_index = 0;
      for (int64_t i = 0; i < n * classes; ++i) {
        const double diff = std::abs(double(got.data[static_cast<size_t>(i)]) -
                                     log_probs[static_cast<size_t>(b * frames * classes + i)]);
        if (diff > worst) {
          worst = diff;
          worst_index = i;
        }
      }
      INFO("worst at frame " << worst_index / classes << ", class " << worst_index % classes << ": expected "
                             << log_probs[static_cast<size_t>(b * frames * classes + worst_index)] << ", got "
                             << got.data[static_cast<size_t>(worst_index)]);
      CHECK(worst <= 1e-5);
    }
  }
}

TEST_CASE("ossicle model run --audio streams features through the model", "[cli][model][audio]") {
  test::ScopedTempDir tmp;
  const std::string model = ImportLstmBi(tmp.path());
  auto run = [&](const std::string& extra, const std::string& name) {
    const fs::path out = tmp.path() / name;
    const RunResult r = RunOssicle("model run " + model + " --audio " + TestAudio("stop_en_16k.wav") + " " + extra +
                                   " --out " + out.string());
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Contains(TestAudio("stop_en_16k.wav") + ": 107 frames x 12 classes -> " + out.string()));
    return ReadNpy(out.string());
  };
  // 107 = the feature frame count of the clip (`ossicle features` says so too); every row a distribution.
  const NpyMatrix chunked = run("", "chunked.npy");
  REQUIRE(chunked.shape == std::vector<int64_t>{107, 12});
  for (int64_t t = 0; t < chunked.Rows(); ++t) {
    double sum = 0.0;
    for (int64_t c = 0; c < 12; ++c) sum += std::exp(double(chunked.data[static_cast<size_t>(t * 12 + c)]));
    INFO("frame " << t);
    CHECK(sum == Approx(1.0).margin(1e-4));
  }
  // A chunk as long as the input is the offline computation, bit for bit; shorter chunks keep the shape.
  const NpyMatrix offline = run("--mode offline", "offline.npy");
  CHECK(MaxAbsDiff(run("--mode chunked --chunk-frames 1000", "long-chunk.npy"), offline) == 0.0);
  CHECK(run("--mode chunked --chunk-frames 8", "short-chunk.npy").shape == std::vector<int64_t>{107, 12});
  CHECK(run("--mode sliding_window --window-frames 40 --hop-frames 20", "window.npy").shape ==
        std::vector<int64_t>{107, 12});
  // The default chunks (64 frames + 16 of right context) are shorter than the clip: the backward pass sees
  // less of the future than offline, so the outputs differ.
  CHECK(MaxAbsDiff(chunked, offline) > 0.0);

  // --audio computes the features exactly as `ossicle features` with the model's configuration does.
  const fs::path feats = tmp.path() / "feats.npy", from_feats = tmp.path() / "from-feats.npy";
  REQUIRE(
      RunOssicle("features " + TestAudio("stop_en_16k.wav") + " --preset kaldi-fbank --out " + feats.string()).exit_code ==
      0);
  REQUIRE(
      RunOssicle("model run " + model + " --mode offline --input " + feats.string() + " --out " + from_feats.string())
          .exit_code == 0);
  CHECK(MaxAbsDiff(ReadNpy(from_feats.string()), offline) == 0.0);
}

// Every damaged model: exit 5, the message names the file and the problem, no output is written.
TEST_CASE("ossicle model set-decoder writes the decoder metadata that model info shows", "[cli][model]") {
  test::ScopedTempDir tmp;
  const std::string model = ImportLstmBi(tmp.path());
  RunResult r = RunOssicle("model info " + model);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("decoder: none"));
  CHECK(nlohmann::json::parse(RunOssicle("model info --json " + model).out).at("decoder").is_null());

  const std::string with = (tmp.path() / "with.safetensors").string();
  r = RunOssicle("model set-decoder " + model + " --out " + with +
                 " --decoder '{\"type\": \"decoder.keywords\", \"keywords\": \"yes\", \"threshold\": 0.75}'");
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains(with + ": with decoder metadata"));
  r = RunOssicle("model info " + with);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("decoder: {\"keywords\":\"yes\",\"threshold\":0.75,\"type\":\"decoder.keywords\"}"));
  const nlohmann::json j = nlohmann::json::parse(RunOssicle("model info --json " + with).out);
  CHECK(j.at("decoder").at("type") == "decoder.keywords");
  CHECK(j.at("decoder").at("threshold") == 0.75);

  // An empty --decoder removes it; a value that is not an object with a "type" is refused, naming the option.
  const std::string without = (tmp.path() / "without.safetensors").string();
  REQUIRE(RunOssicle("model set-decoder " + with + " --out " + without + " --decoder ''").exit_code == 0);
  CHECK_THAT(RunOssicle("model info " + without).out, Contains("decoder: none"));
  r = RunOssicle("model set-decoder " + model + " --out " + (tmp.path() / "bad.safetensors").string() +
                 " --decoder '[1, 2]'");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Contains("--decoder: expected a JSON object with a string \"type\""));
  CHECK_FALSE(fs::exists(tmp.path() / "bad.safetensors"));

  // A list: one entry per decoder type (a spotter's threshold and a transcriber's words in one model).
  const std::string list = (tmp.path() / "list.safetensors").string();
  r = RunOssicle("model set-decoder " + model + " --out " + list +
                 " --decoder '[{\"type\": \"decoder.keywords\", \"threshold\": 0.75}, {\"type\": \"decoder.ctc_greedy\"}]'");
  REQUIRE(r.exit_code == 0);
  const nlohmann::json l = nlohmann::json::parse(RunOssicle("model info --json " + list).out).at("decoder");
  REQUIRE(l.is_array());
  CHECK(l.size() == 2);
  CHECK(l[0].at("threshold") == 0.75);
  CHECK(l[1].at("type") == "decoder.ctc_greedy");
  r = RunOssicle("model set-decoder " + model + " --out " + (tmp.path() / "twice.safetensors").string() +
                 " --decoder '[{\"type\": \"decoder.keywords\"}, {\"type\": \"decoder.keywords\"}]'");
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Contains("--decoder: metadata 'decoder' names \"decoder.keywords\" twice"));
  CHECK_FALSE(fs::exists(tmp.path() / "twice.safetensors"));
}

TEST_CASE("ossicle model ensemble merges models into one that model run and info use", "[cli][model][ensemble]") {
  test::ScopedTempDir tmp;
  const std::string model = ImportLstmBi(tmp.path());
  const std::string with = (tmp.path() / "with.safetensors").string();
  REQUIRE(RunOssicle("model set-decoder " + model + " --out " + with +
                     " --decoder '{\"type\": \"decoder.keywords\", \"keywords\": \"yes\"}'")
              .exit_code == 0);
  // A model with itself: the mean of two equal distributions is the distribution (up to the rounding of
  // the wider matrices), and the first member's decoder metadata is kept.
  const std::string both = (tmp.path() / "both.safetensors").string();
  RunResult r = RunOssicle("model ensemble " + with + " " + model + " --out " + both);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains(both + ": 2 models, hidden 64"));
  r = RunOssicle("model info " + both);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("ensemble of 2 (mean of probabilities)"));
  CHECK_THAT(r.out, Contains("members: 2, hidden sizes 32, 32"));
  const RunResult single_info = RunOssicle("model info --json " + model);
  const RunResult both_info = RunOssicle("model info --json " + both);
  REQUIRE(single_info.exit_code == 0);
  REQUIRE(both_info.exit_code == 0);
  // The members' own parameters, not the merged matrices' zero blocks.
  CHECK(nlohmann::json::parse(both_info.out).at("num_parameters") ==
        2 * nlohmann::json::parse(single_info.out).at("num_parameters").get<int64_t>());
  CHECK(nlohmann::json::parse(both_info.out).at("ensemble_hidden_sizes") == nlohmann::json({32, 32}));
  CHECK_THAT(r.out, Contains("\"keywords\":\"yes\""));
  auto run = [&](const std::string& m, const std::string& name) {
    const fs::path out = tmp.path() / name;
    REQUIRE(RunOssicle("model run " + m + " --audio " + TestAudio("stop_en_16k.wav") + " --mode offline --out " +
                       out.string())
                .exit_code == 0);
    return ReadNpy(out.string());
  };
  const NpyMatrix single = run(model, "single.npy");
  const NpyMatrix merged = run(both, "both.npy");
  REQUIRE(merged.shape == single.shape);
  CHECK(MaxAbsDiff(merged, single) < 1e-4);

  // Members of another kind are refused, naming the file; so is a single model.
  const std::string gru = (tmp.path() / "gru.safetensors").string();
  REQUIRE(RunOssicle("model import-torch " + TorchExport("gru_bi_2layer") + " --features-preset kaldi-fbank --labels " +
                     kLabels + " --out " + gru)
              .exit_code == 0);
  r = RunOssicle("model ensemble " + model + " " + gru + " --out " + (tmp.path() / "bad.safetensors").string());
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("ensemble member " + gru + ": the cell is gru but " + model + " has lstm"));
  CHECK_FALSE(fs::exists(tmp.path() / "bad.safetensors"));
  CHECK(RunOssicle("model ensemble " + model + " --out " + (tmp.path() / "one.safetensors").string()).exit_code == 2);
}

TEST_CASE("ossicle model info and run refuse damaged model files with exit code 5", "[cli][model][errors]") {
  test::ScopedTempDir tmp;
  const fs::path dir = tmp.path();
  const std::string good = ImportLstmBi(dir);
  const std::string bytes = test::ReadTextFile(good);
  REQUIRE(bytes.size() > 1000);

  std::string huge_header = bytes;  // header length 2^63 - 1
  for (int i = 0; i < 8; ++i) huge_header[static_cast<size_t>(i)] = static_cast<char>(i == 7 ? 0x7f : 0xff);
  struct Case {
    std::string path;
    std::vector<std::string> words;
  };
  // Copies of the good model with one thing changed: format_version "2"; out.bias missing; out.bias [11].
  const SafetensorsFile model = SafetensorsFile::Open(good);
  auto rewrite = [&](const std::string& name, const std::string& format_version, int bias_size) {
    const std::string path = (dir / name).string();
    SafetensorsWriter w(path);
    for (const auto& [key, value] : model.Metadata()) {
      w.SetMetadata(key, key == "format_version" ? format_version : value);
    }
    for (const std::string& tensor : model.TensorNames()) {
      std::vector<float> values = model.ReadFloat(tensor);
      std::vector<int64_t> shape = model.Info(tensor).shape;
      if (tensor == "out.bias") {
        if (bias_size == 0) continue;
        values.resize(static_cast<size_t>(bias_size));
        shape = {bias_size};
      }
      w.AddF32(tensor, shape, values);
    }
    w.Close();
    return path;
  };
  const std::string future = rewrite("future.safetensors", "2", 12);
  const std::string no_bias = rewrite("no-bias.safetensors", "1", 0);
  const std::string short_bias = rewrite("short-bias.safetensors", "1", 11);
  const std::vector<Case> cases = {
      {test::WriteBytes(dir, "truncated.safetensors", bytes.substr(0, bytes.size() / 2)),
       {"data_offsets", "past the data buffer"}},
      {test::WriteBytes(dir, "huge-header.safetensors", huge_header),
       {"header length 9223372036854775807 exceeds the", "bytes that follow it"}},
      {test::WriteBytes(dir, "text.safetensors", "This is a text file, not a model.\nIt only has the name of one.\n"),
       {"header length", "exceeds the"}},
      {test::WriteBytes(dir, "tiny.safetensors", "abc"), {"file is 3 bytes"}},
      {future, {"model format version 2 is not supported (expected 1)"}},
      {no_bias, {"no tensor 'out.bias'"}},
      {short_bias, {"tensor 'out.bias' has shape [11]; expected [12]"}},
      {TorchExport("lstm_bi_2layer"),
       {"no 'format' in the metadata; not an ossicle model", "use `ossicle model import-torch`"}},
  };
  const fs::path features = dir / "feats.npy";
  {
    NpyWriter w(features.string(), 40);
    w.AppendRows(std::vector<float>(40 * 5, 0.0f));
    w.Close();
  }
  for (const Case& c : cases) {
    INFO(c.path);
    for (const std::string& args :
         {"model info " + c.path, "model run " + c.path + " --input " + features.string() + " --out out.npy",
          "model run " + c.path + " --audio " + TestAudio("stop_en_16k.wav") + " --out out.npy"}) {
      INFO(args);
      const RunResult r = RunOssicle(args, dir);
      CHECK(r.exit_code == 5);
      CHECK_THAT(r.err, Contains("error: " + c.path + ": "));
      for (const auto& w : c.words) CHECK_THAT(r.err, Contains(w));
      CHECK(r.out.empty());
    }
  }
  // A missing model cannot be read (exit 7, like a missing configuration file).
  RunResult r = RunOssicle("model info " + (dir / "missing.safetensors").string());
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("missing.safetensors: cannot open"));

  // model info goes on past a bad file: the good one is described, the exit code is the first failure's.
  r = RunOssicle("model info " + good + " " + (dir / "truncated.safetensors").string() + " " + good);
  CHECK(r.exit_code == 5);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2 * 7);  // 7 lines per model
  CHECK_THAT(r.err, Contains("truncated.safetensors"));

  std::vector<std::string> keep = {"lstm_bi.safetensors", "feats.npy"};
  for (const Case& c : cases) {
    if (fs::path(c.path).parent_path() == dir) keep.push_back(fs::path(c.path).filename().string());
  }
  CheckNothingWritten(dir, keep);
}

// An attention head makes one decision per clip: import-torch recognises it, `model run` (frame by frame)
// refuses it with a configuration error.
TEST_CASE("ossicle model: an attention-head model imports, describes itself, and is refused by run",
          "[cli][model][errors]") {
  test::ScopedTempDir tmp;
  const SafetensorsFile golden = SafetensorsFile::Open(TorchExport("lstm_bi_2layer"));
  const std::string state = (tmp.path() / "attention-torch.safetensors").string();
  {
    SafetensorsWriter w(state);
    for (const std::string& name : golden.TensorNames()) {
      if (name.rfind("rnn.", 0) == 0 || name.rfind("out.", 0) == 0) {
        w.AddF32(name, golden.Info(name).shape, golden.ReadFloat(name));
      }
    }
    w.AddF32("att.weight", {8, 64}, std::vector<float>(8 * 64, 0.01f));
    w.AddF32("att.bias", {8}, std::vector<float>(8, 0.0f));
    w.AddF32("att.context", {8}, std::vector<float>(8, 0.1f));
    w.Close();
  }
  const std::string model = (tmp.path() / "attention.safetensors").string();
  RunResult r = RunOssicle("model import-torch " + state + " --out " + model);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out,
             Contains("LSTM, 2 layers, hidden 32, bidirectional, input 40, 12 classes, attention head (size 8)"));
  CHECK_THAT(r.out, Contains("ignored 0 tensors that are not model parameters\n"));
  r = RunOssicle("model info " + model);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("parameters: " + std::to_string(44812 + 8 * 64 + 8 + 8)));
  r = RunOssicle("model run " + model + " --audio " + TestAudio("stop_en_16k.wav") + " --out " +
                 (tmp.path() / "out.npy").string());
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("streaming needs a model with a frame head; this model has an attention head"));
  CHECK_FALSE(fs::exists(tmp.path() / "out.npy"));
}

TEST_CASE("ossicle model run refuses inputs that do not fit the model", "[cli][model][errors]") {
  test::ScopedTempDir tmp;
  const fs::path dir = tmp.path();
  const std::string model = ImportLstmBi(dir);
  const fs::path narrow = dir / "narrow.npy";
  {
    NpyWriter w(narrow.string(), 13);
    w.AppendRows(std::vector<float>(13 * 7, 0.5f));
    w.Close();
  }
  RunResult r = RunOssicle("model run " + model + " --input " + narrow.string() + " --out out.npy", dir);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Contains("error: " + narrow.string() + ": the input has shape [7, 13]; the model " + model +
                             " expects [frames, 40] (mel.num_mel_bins = 40, deltas.order = 0)"));

  r = RunOssicle("model run " + model + " --input " + (dir / "missing.npy").string() + " --out out.npy", dir);
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("missing.npy: cannot open"));

  r = RunOssicle("model run " + model + " --audio " + (dir / "missing.wav").string() + " --out out.npy", dir);
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Contains("missing.wav: cannot open"));

  const std::string not_npy = test::WriteBytes(dir, "not.npy", "not numpy at all, just some text");
  r = RunOssicle("model run " + model + " --input " + not_npy + " --out out.npy", dir);
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Contains(not_npy + ": not a .npy file (bad magic)"));

  r = RunOssicle("model run " + model + " --audio " + TestAudio("stop_en_16k.wav") + " --out /nonexistent-dir/x.npy");
  CHECK(r.exit_code == 7);
  CHECK_THAT(r.err, Contains("/nonexistent-dir/x.npy: cannot open for writing"));

  CheckNothingWritten(dir, {"lstm_bi.safetensors", "narrow.npy", "not.npy"});
}

}  // namespace
}  // namespace ossicle
