// End-to-end test of `ossicle keyword-train`: a tiny recipe (a few espeak-ng clips, a 1x4 LSTM, one epoch)
// plans, trains, calibrates on held-out tone "speech" and writes the threshold into the model's metadata.
#include <sndfile.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/run-ossicle.h"
#include "models/acoustic-model.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/manifest.h"
#include "pipeline/speech-synth.h"
#include "pipeline/stages/model-decoder-defaults.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

using Catch::Contains;
namespace fs = std::filesystem;

struct TinyKeyword {
  test::ScopedTempDir tmp{"ossicle-keyword-train-cli"};
  fs::path dir = tmp.path();
  TinyKeyword() {
    std::string neg = "path\ttranscript\tduration_s\n", measure = "path\tkeyword\n";
    int k = 0;
    for (const char* group : {"a", "b", "c", "d"}) {
      fs::create_directories(dir / group);
      for (int i = 0; i < 2; ++i, ++k) {
        const std::string file = std::to_string(i) + ".wav";
        test::WriteSineFile(dir / group, file, 16000, 1, 0.5, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 200.0 + 90.0 * k, 0.3);
        neg += std::string(group) + "/" + file + "\tsomething\t0.5\n";
      }
      measure += std::string(group) + "/0.wav\t" + (group[0] < 'c' ? "jarvis" : "alexa") + "\n";
    }
    std::ofstream(dir / "neg.tsv") << neg;
    std::ofstream(dir / "measure.tsv") << measure;
    std::ofstream(dir / "recipe.yaml") << "keyword: jarvis\n"
                                          "positive_examples: 4\n"
                                          "sound_alikes: 2\n"
                                          "other_words: 2\n"
                                          "sentences: 1\n"
                                          "examples_per_word: 1\n"
                                          "abrupt_starts: 1\n"
                                          "engines: [espeak-ng]\n"
                                          "negatives: neg.tsv\n"
                                          "hidden_size: 4\n"
                                          "num_layers: 1\n"
                                          "epochs: 1\n"
                                          "num_threads: 1\n"
                                          "cache_dir: tts\n";
  }
};

TEST_CASE("ossicle keyword-train plans, trains, calibrates and writes the threshold into the model",
          "[apps][keyword][threads]") {
  if (const std::string why = SpeechEngineUnavailableReason("espeak-ng"); !why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  TinyKeyword t;
  const auto r = test::RunOssicle(
      "keyword-train --config recipe.yaml --out models/jarvis.safetensors --work-dir work --measure measure.tsv "
      "--target-fa-per-hour 50",
      t.dir);
  REQUIRE(r.exit_code == 0);
  // 4 spellings x 1 clip; 2 sound-alikes, 2 other words, 1 sentence; groups a, c trained, b, d held out.
  CHECK_THAT(r.out, Contains("keyword 'jarvis' (label jarvis): 4 synthetic positives; 2 sound-alikes x 1 "
                             "(barvis, "));
  CHECK_THAT(r.out, Contains("negatives: 4 clips (0.0 min) for training, 4 clips (0.0 min) held out"));
  CHECK_THAT(r.out, Contains("synthesised 9 clips"));  // 4 + 2 + 2 + 1 sentence
  CHECK_THAT(r.out, Contains("training: 13 examples"));
  CHECK_THAT(r.out, Contains("epoch 1: train loss "));
  CHECK_THAT(r.out, Contains("calibrated threshold "));
  CHECK_THAT(r.out, Contains("of 2 'jarvis' clips missed"));
  CHECK_THAT(r.out, Contains("model: models/jarvis.safetensors (decoder threshold "));

  const auto model = AcousticModel::Load((t.dir / "models/jarvis.safetensors").string());
  CHECK(model->Labels() == std::vector<std::string>{"jarvis", "_unknown_"});
  const auto decoder = nlohmann::json::parse(ReadModelDecoderJson((t.dir / "models/jarvis.safetensors").string()));
  CHECK(decoder["type"] == "decoder.keywords");
  CHECK(decoder["keywords"] == "jarvis");
  const auto report = nlohmann::json::parse(test::ReadTextFile(t.dir / "work/calibration.json"));
  CHECK(decoder["threshold"].get<double>() == Approx(report["threshold"].get<double>()));
  CHECK(report["positives"] == 2);
  CHECK(report["heldout_negative_hours"].get<double>() == Approx(2.0 / 3600.0));
  CHECK(report["det"].size() > 100);
  CHECK(report["fa_per_hour"].get<double>() <= 50.0);
  // The provenance records the calibration too; the experiment it ran is kept for `ossicle train`.
  CHECK(nlohmann::json::parse(model->ProvenanceJson())["keyword_train"]["threshold"] == report["threshold"]);
  CHECK(fs::exists(t.dir / "work/experiment.yaml"));
  CHECK(fs::exists(t.dir / "work/negatives-heldout.tsv"));
  // "jarvis" has two syllables: the automatic smoothing is 300 ms, in the metadata, so spot and listen decode
  // as calibrated.
  CHECK(decoder["smoothing_ms"].get<double>() == Approx(300.0));
  CHECK(report["smoothing_ms"].get<double>() == Approx(300.0));

  // Recalibrated with the decoder's default smoothing: nothing to write into the metadata. Measured on the two
  // recordings and a damaged FLAC one (32 bytes flipped in its middle): listed apart, and the misses among the
  // others reported too.
  test::WriteDamagedFlac(t.dir, "damaged.flac", 1.0, 300.0, 0.3);
  std::ofstream(t.dir / "measure-damaged.tsv") << "path\tkeyword\na/0.wav\tjarvis\nb/0.wav\tjarvis\n"
                                                  "damaged.flac\tjarvis\n";
  const auto smooth = test::RunOssicle(
      "keyword-train --config recipe.yaml --out smooth.safetensors --work-dir work-smooth --calibrate "
      "models/jarvis.safetensors --recipe-set smoothing_ms=100 --target-fa-per-hour 50 --measure "
      "measure-damaged.tsv",
      t.dir);
  REQUIRE(smooth.exit_code == 0);
  CHECK_THAT(smooth.out, Contains("of 3 'jarvis' clips missed") &&
                             Contains("1 of them were read with a warning (damaged or truncated audio, e.g. ") &&
                             Contains("damaged.flac: damaged FLAC data") && Contains("the other 2: "));
  const auto damaged_report = nlohmann::json::parse(test::ReadTextFile(t.dir / "work-smooth/calibration.json"));
  CHECK(damaged_report["clean_positives"] == 2);
  CHECK(damaged_report["measure_warnings"].size() == 1);
  const auto smooth_decoder = nlohmann::json::parse(ReadModelDecoderJson((t.dir / "smooth.safetensors").string()));
  CHECK_FALSE(smooth_decoder.contains("smoothing_ms"));
  CHECK(nlohmann::json::parse(test::ReadTextFile(t.dir / "work-smooth/calibration.json"))["smoothing_ms"].get<double>() ==
        Approx(100.0));

  // The synthetic clips: every positive starts with at least 0.1 s of quiet noise floor; with abrupt_starts: 1
  // every negative starts at its speech (the first sample at 10% of the clip's peak).
  ManifestColumns columns;
  columns.label = "label";
  int positives = 0, negatives = 0;
  for (const ManifestEntry& clip : ReadManifest((t.dir / "work/synthetic.tsv").string(), columns)) {
    const std::vector<float> audio = ReadAudioFile(clip.audio_path);
    REQUIRE(audio.size() > 1600);
    float peak = 0.0f, lead_peak = 0.0f;
    for (size_t k = 0; k < audio.size(); ++k) {
      peak = std::max(peak, std::abs(audio[k]));
      if (k < 1600) lead_peak = std::max(lead_peak, std::abs(audio[k]));
    }
    INFO(clip.audio_path);
    if (clip.label == "jarvis") {
      ++positives;
      CHECK(lead_peak < 0.05f * peak);
    } else {
      ++negatives;
      CHECK(std::abs(audio[0]) >= 0.08f * peak);  // 10% of the peak before 16-bit rounding and the noise floor
    }
  }
  CHECK(positives == 4);
  CHECK(negatives == 5);
}

TEST_CASE("ossicle keyword-train with members: 2 trains seeds 1 and 2 and calibrates their ensemble",
          "[apps][keyword][ensemble]") {
  if (const std::string why = SpeechEngineUnavailableReason("espeak-ng"); !why.empty()) {
    WARN("skipped: " << why);
    return;
  }
  TinyKeyword t;
  const auto r = test::RunOssicle(
      "keyword-train --config recipe.yaml --out pair.safetensors --work-dir work --recipe-set members=2 "
      "--target-fa-per-hour 50",
      t.dir);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Contains("member 1 of 2: seed 1 in work/seed-1") && Contains("member 2 of 2: seed 2 in work/seed-2"));
  CHECK_THAT(r.out, Contains("ensemble of 2 models (the mean of their probabilities): work/ensemble.safetensors"));
  CHECK_THAT(r.out, Contains("calibrated threshold "));
  const auto pair = AcousticModel::Load((t.dir / "pair.safetensors").string());
  CHECK(pair->Architecture().ensemble_size == 2);
  CHECK(pair->EnsembleHiddenSizes() == std::vector<int>{4, 4});
  CHECK(nlohmann::json::parse(ReadModelDecoderJson((t.dir / "pair.safetensors").string()))["keywords"] == "jarvis");
  CHECK(fs::exists(t.dir / "work/calibration.json"));

  // Member 2 is exactly the recipe run alone with seed 2.
  const auto alone = test::RunOssicle(
      "keyword-train --config recipe.yaml --out seed2.safetensors --work-dir work2 --recipe-set seed=2", t.dir);
  REQUIRE(alone.exit_code == 0);
  const auto member2 = AcousticModel::Load((t.dir / "work/seed-2/model.safetensors").string());
  const auto seed2 = AcousticModel::Load((t.dir / "work2/model.safetensors").string());
  const auto a = member2->Parameters();  // views: valid while the models live
  const auto b = seed2->Parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].name);
    CHECK(std::equal(a[i].values.begin(), a[i].values.end(), b[i].values.begin(), b[i].values.end()));
  }
  // ... and not the same as member 1.
  const auto member1 = AcousticModel::Load((t.dir / "work/seed-1/model.safetensors").string());
  const auto one = member1->Parameters();
  CHECK_FALSE(std::equal(one[0].values.begin(), one[0].values.end(), a[0].values.begin(), a[0].values.end()));
}

TEST_CASE("ossicle keyword-train refuses a bad keyword or recipe with exit code 3", "[apps][keyword]") {
  TinyKeyword t;
  const auto bad = test::RunOssicle("keyword-train j --out m.safetensors", t.dir);
  CHECK(bad.exit_code == 3);
  CHECK_THAT(bad.err, Contains("keyword = 'j'; expected a word of at least two letters"));
  std::ofstream(t.dir / "typo.yaml") << "keyword: jarvis\nepoch: 3\n";
  const auto typo = test::RunOssicle("keyword-train --config typo.yaml --out m.safetensors", t.dir);
  CHECK(typo.exit_code == 3);
  CHECK_THAT(typo.err, Contains("typo.yaml:2:1") && Contains("unknown key 'epoch' (did you mean 'epochs'?)"));
  const auto none = test::RunOssicle("keyword-train --out m.safetensors", t.dir);
  CHECK(none.exit_code == 3);
  CHECK_THAT(none.err, Contains("no keyword"));
  CHECK_FALSE(fs::exists(t.dir / "m.safetensors"));
  // --recipe-set works without --config too (it was ignored there once).
  const auto set = test::RunOssicle("keyword-train jarvis --out m.safetensors --recipe-set reverb.probability=3", t.dir);
  CHECK(set.exit_code == 3);
  CHECK_THAT(set.err, Contains("reverb.probability = 3; expected in [0, 1]"));
  const auto members = test::RunOssicle("keyword-train jarvis --out m.safetensors --recipe-set members=0", t.dir);
  CHECK(members.exit_code == 3);
  CHECK_THAT(members.err, Contains("members = 0; expected between 1 and 16"));
  const auto smoothing = test::RunOssicle("keyword-train jarvis --out m.safetensors --recipe-set smoothing_ms=-5", t.dir);
  CHECK(smoothing.exit_code == 3);
  CHECK_THAT(smoothing.err, Contains("smoothing_ms = -5; expected 0 (automatic) or in (0, 2000] ms"));
}

TEST_CASE("ossicle keyword-train warns when a features_file has no CMVN", "[apps][keyword]") {
  TinyKeyword t;
  // --calibrate with a model that does not exist: the data plan and the experiment are written (and the
  // features checked) before the model is needed, so no synthesis or training runs.
  auto run = [&](const std::string& cmvn) {
    std::ofstream(t.dir / "features.yaml") << "type: fbank\nframe: {sample_rate_hz: 16000}\nmel: {num_mel_bins: 40}\n"
                                           << cmvn;
    std::ofstream(t.dir / "recipe-f.yaml") << test::ReadTextFile(t.dir / "recipe.yaml") << "features_file: features.yaml\n";
    return test::RunOssicle(
        "keyword-train --config recipe-f.yaml --out m.safetensors --work-dir work --calibrate missing.safetensors", t.dir);
  };
  const auto bare = run("");
  CHECK(bare.exit_code != 0);  // the missing model
  CHECK_THAT(bare.err, Contains("warning: features_file ") && Contains("features.yaml: no CMVN (cmvn.mode none)"));
  CHECK_THAT(bare.err, Contains("missing.safetensors"));
  const auto with_cmvn = run("cmvn: {mode: utterance}\n");
  CHECK(with_cmvn.exit_code != 0);
  CHECK_THAT(with_cmvn.err, !Contains("warning: features_file"));
  CHECK_THAT(with_cmvn.err, Contains("missing.safetensors"));
}

}  // namespace
}  // namespace ossicle
