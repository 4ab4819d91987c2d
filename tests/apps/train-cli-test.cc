// End-to-end tests of `ossicle train`: a tiny experiment on generated tones trains and writes its model; bad
// experiments fail before training with the file, line and key, and exit code 3.
#include <sndfile.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "apps/run-ossicle.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

using Catch::Contains;
using Catch::StartsWith;
namespace fs = std::filesystem;

// Two classes of 8 kHz tones, 6 training and 2 dev clips each, and exp.yaml training a tiny model on them.
struct TinyExperiment {
  test::ScopedTempDir tmp{"ossicle-train-cli"};
  fs::path dir = tmp.path();

  TinyExperiment() {
    fs::create_directories(dir / "audio");
    std::string train = "path\tlabel\n", dev = train;
    for (int i = 0; i < 8; ++i) {
      for (const auto& [name, hz] : {std::pair{"low", 300.0}, std::pair{"high", 2000.0}}) {
        const std::string file = std::string(name) + std::to_string(i) + ".wav";
        test::WriteSineFile(dir / "audio", file, 8000, 1, 0.25, SF_FORMAT_WAV | SF_FORMAT_PCM_16, hz + 20.0 * i,
                            0.2 + 0.05 * i);
        (i < 6 ? train : dev) += "audio/" + file + "\t" + name + "\n";
      }
    }
    std::ofstream(dir / "train.tsv") << train;
    std::ofstream(dir / "dev.tsv") << dev;
    Write(Yaml());
  }
  static std::string Yaml() {
    return "name: tiny\n"
           "labels: [low, high]\n"
           "features: {frame: {sample_rate_hz: 8000}, mel: {num_mel_bins: 8}}\n"
           "model: {hidden_size: 4, num_layers: 1}\n"
           "data:\n"
           "  train: [{manifest: train.tsv, columns: {label: label}}]\n"
           "  dev: [{manifest: dev.tsv, columns: {label: label}}]\n"
           "  loader: {batch_size: 4, workers: 0}\n"
           "training: {epochs: 3, optimizer: {learning_rate: 0.05}}\n"
           "outputs: {dir: out}\n";
  }
  void Write(const std::string& text) const { std::ofstream(dir / "exp.yaml") << text; }
};

TEST_CASE("ossicle train runs a small experiment and writes the model", "[apps][training]") {
  TinyExperiment e;
  const auto r = test::RunOssicle("train exp.yaml --progress never --set training.epochs=2", e.dir);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("experiment tiny (exp.yaml): 12 training examples"));
  CHECK_THAT(r.out, Contains("4 dev examples"));
  CHECK_THAT(r.out, Contains("model: LSTM 1x4 bidirectional, frame head"));
  CHECK_THAT(r.out, Contains("epoch 1/2: train loss "));
  CHECK_THAT(r.out, Contains("epoch 2/2: train loss "));
  CHECK_THAT(r.out, Contains("done (epochs) after 2 epochs, 6 steps; best epoch "));
  CHECK_THAT(r.out, Contains("model: out/model.safetensors"));
  CHECK(r.err.empty());  // no progress line when asked for none
  CHECK(fs::exists(e.dir / "out/model.safetensors"));
  CHECK(fs::exists(e.dir / "out/checkpoint-last.safetensors"));
  std::ifstream metrics(e.dir / "out/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  CHECK(lines == 2);

  // The model is a normal model file: `ossicle model info` describes it.
  const auto info = test::RunOssicle("model info out/model.safetensors", e.dir);
  CHECK(info.exit_code == 0);
  CHECK_THAT(info.out, Contains("low"));

  // A second run into the same folder is refused; --resume continues (nothing left to do at 2 epochs).
  const auto again = test::RunOssicle("train exp.yaml --progress never --set training.epochs=2", e.dir);
  CHECK(again.exit_code == 3);
  CHECK_THAT(again.err, Contains("exists from an earlier run; continue it with --resume"));
  const auto more = test::RunOssicle("train exp.yaml --progress never --resume --set training.epochs=3", e.dir);
  CHECK(more.exit_code == 0);
  CHECK_THAT(more.out, Contains("resumed from out/checkpoint-last.safetensors at epoch 3, batch 0, step 6"));
  CHECK_THAT(more.out, Contains("epoch 3/3: train loss"));
  CHECK_THAT(more.out, !Contains("epoch 2/3:"));

  // The progress line on request: epoch, step, loss, learning rate, frames/s, ETA.
  const auto bar = test::RunOssicle("train exp.yaml --progress always --overwrite --set training.epochs=1", e.dir);
  CHECK(bar.exit_code == 0);
  CHECK_THAT(bar.err, Contains("epoch 1/1"));
  CHECK_THAT(bar.err, Contains("step 3/3  loss "));
  CHECK_THAT(bar.err, Contains("frames/s  ETA "));
}

TEST_CASE("ossicle train --check validates without training", "[apps][training]") {
  TinyExperiment e;
  const auto r = test::RunOssicle("train exp.yaml --check", e.dir);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("check: the experiment and its data are valid (no training done)"));
  CHECK_FALSE(fs::exists(e.dir / "out"));
}

TEST_CASE("bad experiments fail before training with file, line, key and exit code 3", "[apps][training]") {
  TinyExperiment e;
  SECTION("unknown key") {
    std::string y = TinyExperiment::Yaml();
    y.replace(y.find("labels:"), 7, "lables:");
    e.Write(y);
    const auto r = test::RunOssicle("train exp.yaml", e.dir);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, StartsWith("error: exp.yaml:2:1: unknown key 'lables' (did you mean 'labels'?)"));
  }
  SECTION("missing manifest") {
    std::string y = TinyExperiment::Yaml();
    y.replace(y.find("train.tsv"), 9, "nope.tsv");
    e.Write(y);
    const auto r = test::RunOssicle("train exp.yaml", e.dir);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, StartsWith("error: exp.yaml:6:22: data.train[0].manifest: '"));
    CHECK_THAT(r.err, Contains("nope.tsv' does not exist"));
  }
  SECTION("empty data set") {
    std::ofstream(e.dir / "train.tsv") << "path\tlabel\n";
    const auto r = test::RunOssicle("train exp.yaml", e.dir);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, StartsWith("error: exp.yaml:6:11: data.train[0]: "));
    CHECK_THAT(r.err, Contains("no entries"));
  }
  SECTION("labels the model cannot emit") {
    std::string y = TinyExperiment::Yaml();
    y.replace(y.find("num_layers: 1}"), 14, "num_layers: 1, num_classes: 1}");
    e.Write(y);
    const auto r = test::RunOssicle("train exp.yaml", e.dir);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, StartsWith("error: exp.yaml:4:53: model.num_classes = 1; expected 2 for the 2 labels"));
  }
  SECTION("a label that is not in the list") {
    std::ofstream(e.dir / "dev.tsv") << "path\tlabel\naudio/low0.wav\tmiddle\n";
    const auto r = test::RunOssicle("train exp.yaml", e.dir);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, StartsWith("error: exp.yaml:7:9: data.dev[0]: "));
    CHECK_THAT(r.err, Contains("dev.tsv:2: column 'label': label 'middle' is not one of"));
  }
  SECTION("a bad --set") {
    const auto r = test::RunOssicle("train exp.yaml --set training.optimizer.type=adamx", e.dir);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, StartsWith("error: --set training.optimizer.type=adamx: training.optimizer.type: 'adamx' is "
                                 "not one of sgd|adam|adamw"));
  }
  SECTION("resume without a checkpoint") {
    const auto r = test::RunOssicle("train exp.yaml --resume", e.dir);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, StartsWith("error: --resume: no checkpoint at out/checkpoint-last.safetensors"));
  }
  CHECK_FALSE(fs::exists(e.dir / "out/model.safetensors"));
}

}  // namespace
}  // namespace ossicle
