// Experiment files: what they read and derive, and every rule that fails before training, with the file,
// line and key in the message.
#include <sndfile.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "features/errors.h"
#include "pipeline/experiment-config.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;
namespace fs = std::filesystem;

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A folder with data/train.tsv and data/dev.tsv over two short tones, and exp.yaml using them.
struct Experiment {
  test::ScopedTempDir tmp{"ossicle-exp"};
  fs::path yaml = tmp.path() / "exp.yaml";

  Experiment() {
    const fs::path data = tmp.path() / "data";
    fs::create_directories(data);
    test::WriteSineFile(data, "a.wav", 8000, 1, 0.2, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 300.0);
    test::WriteSineFile(data, "b.wav", 8000, 1, 0.2, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 1500.0);
    WriteFile(data / "train.tsv", "path\tlabel\ttranscript\na.wav\tlow\tab\nb.wav\thigh\tba\n");
    WriteFile(data / "dev.tsv", "path\tlabel\ttranscript\nb.wav\thigh\tba\n");
  }
  // The base experiment; `extra` is appended (later keys of the same name are not allowed by YAML, so
  // tests that change a key write the whole text).
  static std::string Base(const std::string& model = "model: {hidden_size: 8, num_layers: 1}\n") {
    return "# a test experiment\n"
           "name: tones\n"
           "labels: [low, high]\n"
           "features: {frame: {sample_rate_hz: 8000}, mel: {num_mel_bins: 10}}\n" +
           model +
           "data:\n"
           "  train:\n"
           "    - manifest: data/train.tsv\n"
           "      columns: {label: label}\n"
           "  dev:\n"
           "    - {manifest: data/dev.tsv, columns: {label: label}}\n"
           "training: {epochs: 2}\n";
  }
  ExperimentConfig Load(const std::string& text, const std::vector<std::string>& overrides = {}) {
    WriteFile(yaml, text);
    return LoadExperimentConfig(yaml.string(), overrides);
  }
  std::string Y() const { return yaml.string(); }
};

TEST_CASE("an experiment file is read with derived sizes and resolved paths", "[pipeline][training][experiment]") {
  Experiment e;
  const ExperimentConfig c = e.Load(Experiment::Base());
  CHECK(c.name == "tones");
  CHECK(c.target == TargetType::kClass);
  CHECK(c.labels == std::vector<std::string>{"low", "high"});
  CHECK(c.features.frame.sample_rate_hz == 8000);
  CHECK(c.model.input_size == 10);   // features Dim()
  CHECK(c.model.num_classes == 2);   // labels
  CHECK(c.model.hidden_size == 8);
  REQUIRE(c.train.size() == 1);
  CHECK(c.train[0].manifest == (e.tmp.path() / "data/train.tsv").string());  // against the YAML's folder
  CHECK(c.train[0].columns.label == "label");
  REQUIRE(c.dev.size() == 1);
  CHECK(c.training.epochs == 2);
  CHECK(c.OutputDir() == "runs/tones");
  CHECK(c.Where("data.train[0].manifest") == e.Y() + ":8:17: ");
  CHECK(c.Where("training.optimizer.beta1") == e.Y() + ":12:11: ");  // nearest given parent: training
  CHECK(c.yaml.find("name: tones") != std::string::npos);

  const ExperimentData d = LoadExperimentData(c);
  CHECK(d.train.Size() == 2);
  CHECK(d.dev.Size() == 1);
  CHECK(d.manifest_examples == std::vector<int64_t>{2, 1});
}

TEST_CASE("tokens experiments get the blank as class 0", "[pipeline][training][experiment]") {
  Experiment e;
  std::string text = Experiment::Base();
  text.replace(text.find("labels: [low, high]"), 19, "target: tokens\ntokens: \"ab\"");
  const ExperimentConfig c = e.Load(text);
  CHECK(c.labels == std::vector<std::string>{"<blank>", "a", "b"});
  CHECK(c.model.num_classes == 3);
}

TEST_CASE("word_tokens make whole words the CTC tokens", "[pipeline][training][experiment]") {
  Experiment e;
  std::string text = Experiment::Base();
  text.replace(text.find("labels: [low, high]"), 19, "target: tokens\nword_tokens: [ab, ba]");
  const ExperimentConfig c = e.Load(text);
  CHECK(c.labels == std::vector<std::string>{"<blank>", "\xE2\x96\x81" "ab", "\xE2\x96\x81" "ba"});
  CHECK(c.word_tokens == std::vector<std::string>{"ab", "ba"});
  CHECK(c.model.num_classes == 3);
  // The data: transcripts are spelled by words ("ba" in dev, "ab" in train of the base set).
  text.replace(text.find("columns: {label: label}"), 23, "columns: {transcript: transcript}");
  text.replace(text.find("columns: {label: label}"), 23, "columns: {transcript: transcript}");
  const ExperimentData d = LoadExperimentData(e.Load(text));
  CHECK(d.dev.At(0).tokens == std::vector<int32_t>{2});

  const std::string base = Experiment::Base();
  auto with = [&](const std::string& replacement) {
    std::string t = base;
    t.replace(t.find("labels: [low, high]"), 19, replacement);
    return t;
  };
  CHECK_THROWS_MATCHES(e.Load(with("target: tokens\ntokens: ab\nword_tokens: [ab]")), ConfigError,
                       HasMessage("word_tokens: give either tokens (characters) or word_tokens", e.Y() + ":"));
  CHECK_THROWS_MATCHES(e.Load(with("target: tokens\nword_tokens: [ab, \"a b\"]")), ConfigError,
                       HasMessage("word_tokens[1]: 'a b'; expected one word without spaces", e.Y() + ":4:"));
  CHECK_THROWS_MATCHES(e.Load(with("target: tokens\nword_tokens: [ab, ab]")), ConfigError,
                       HasMessage("word_tokens[1]: '\xE2\x96\x81" "ab' appears twice", e.Y()));
  CHECK_THROWS_MATCHES(e.Load(with("labels: [low, high]\nword_tokens: [ab]")), ConfigError,
                       HasMessage("word_tokens: only for target tokens", e.Y()));
}

TEST_CASE("every shipped experiment config reads and validates, named after its file", "[pipeline][training][experiment]") {
  int experiments = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(OSSICLE_SOURCE_DIR) / "configs" / "experiments")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream in(entry.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find("\nkeyword:") != std::string::npos) continue;  // a keyword-train recipe, not an experiment
    INFO(entry.path().string());
    const ExperimentConfig c = LoadExperimentConfig(entry.path().string());
    CHECK(c.name == entry.path().stem().string());
    CHECK(c.model.num_classes == static_cast<int>(c.labels.size()));
    ++experiments;
  }
  CHECK(experiments >= 7);
}

TEST_CASE("a features_file is the base of the inline features", "[pipeline][training][experiment]") {
  Experiment e;
  WriteFile(e.tmp.path() / "feats/f.yaml", "type: fbank\nmel: {num_mel_bins: 23}\nframe: {sample_rate_hz: 16000}\n");
  std::string text = Experiment::Base();
  text.replace(text.find("features:"), 9, "features_file: feats/f.yaml\nfeatures:");
  const ExperimentConfig c = e.Load(text);
  CHECK(c.features.frame.sample_rate_hz == 8000);  // inline wins
  CHECK(c.features.mel.num_mel_bins == 10);
  text = Experiment::Base();
  text.replace(text.find("features: {frame: {sample_rate_hz: 8000}, mel: {num_mel_bins: 10}}"), 66,
               "features_file: feats/f.yaml");
  CHECK(e.Load(text).model.input_size == 23);
  text.replace(text.find("feats/f.yaml"), 12, "feats/none.yaml");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError, HasMessage(":4:16: features_file: '", e.Y()));
}

TEST_CASE("experiment: --set overrides apply before reading and are named in messages", "[pipeline][training][experiment]") {
  Experiment e;
  const ExperimentConfig c = e.Load(Experiment::Base(), {"training.epochs=7", "model.cell=gru"});
  CHECK(c.training.epochs == 7);
  CHECK(c.model.cell == CellType::kGru);
  CHECK(c.Where("training.epochs") == "--set training.epochs=7: ");
  CHECK_THROWS_MATCHES(e.Load(Experiment::Base(), {"training.epochs=0"}), ConfigError,
                       HasMessage("--set training.epochs=0: training.epochs = 0; expected >= 1"));
  CHECK_THROWS_MATCHES(e.Load(Experiment::Base(), {"training.epochs=abc"}), ConfigError,
                       HasMessage("--set training.epochs=abc: training.epochs: expected an integer, got 'abc'"));
}

TEST_CASE("unknown keys are refused with file:line:column and a suggestion", "[pipeline][training][experiment]") {
  Experiment e;
  std::string text = Experiment::Base();
  text.replace(text.find("labels:"), 7, "lables:");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage(":3:1: unknown key 'lables' (did you mean 'labels'?)", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("training: {epochs: 2}"), 21, "training:\n  epochs: 2\n  optimzer: {type: sgd}");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage(":14:3: training: unknown key 'optimzer' (did you mean 'optimizer'?)", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("      columns: {label: label}"), 29, "      colums: {label: label}");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage(":9:7: data.train[0]: unknown key 'colums' (did you mean 'columns'?)", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("  dev:"), 6, "  deev:");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage(":10:3: data: unknown key 'deev' (did you mean 'dev'?)", e.Y()));
}

TEST_CASE("a model that cannot emit every label is refused at its line", "[pipeline][training][experiment]") {
  Experiment e;
  CHECK_THROWS_MATCHES(e.Load(Experiment::Base("model: {hidden_size: 8, num_classes: 1}\n")), ConfigError,
                       HasMessage(":5:38: model.num_classes = 1; expected 2 for the 2 labels (the model could not "
                                  "emit them all)",
                                  e.Y()));
  CHECK_THROWS_MATCHES(e.Load(Experiment::Base("model: {hidden_size: 8, num_classes: 3}\n")), ConfigError,
                       HasMessage("model.num_classes = 3; expected 2 for the 2 labels (leave it out", e.Y()));
  CHECK_THROWS_MATCHES(e.Load(Experiment::Base("model: {input_size: 40}\n")), ConfigError,
                       HasMessage(":5:21: model.input_size = 40; the features give 10 values per frame", e.Y()));
  std::string text = Experiment::Base("model: {head: attention, attention_size: 4}\n");
  text.replace(text.find("labels: [low, high]"), 19, "target: tokens\ntokens: ab");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage(":6:15: model.head = attention; expected frame for target tokens", e.Y()));
}

TEST_CASE("validation rules carry the place of the key", "[pipeline][training][experiment]") {
  Experiment e;
  std::string text = Experiment::Base();
  text.replace(text.find("training: {epochs: 2}"), 21, "training:\n  optimizer:\n    beta1: 1.5");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage(":14:12: training.optimizer.beta1 = 1.5; expected in [0, 1)", e.Y()));
  CHECK_THROWS_MATCHES(e.Load(Experiment::Base("model: {num_layers: 0}\n")), ConfigError,
                       HasMessage(":5:21: model.num_layers = 0; expected between 1 and 64", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("num_mel_bins: 10"), 16, "num_mel_bins: 0");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError, HasMessage(": features.mel.num_mel_bins = 0", e.Y() + ":4:"));
  CHECK_THROWS_MATCHES(e.Load(Experiment::Base() + "outputs: {model: \"\"}\n"), ConfigError,
                       HasMessage(":13:18: outputs.model: expected a file name", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("training: {epochs: 2}"), 21, "training: {dropout: 1}");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError, HasMessage(":12:21: training.dropout = 1; expected", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("labels: [low, high]"), 19, "labels: [low, low]");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError, HasMessage(":3:15: labels[1]: 'low' appears twice", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("labels: [low, high]\n"), 20, "");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError, HasMessage(": labels: expected the list of class names", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("data:"), text.find("training:") - text.find("data:"), "");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage(e.Y() + ": data.train: expected at least one training manifest", e.Y()));
  CHECK_THROWS_MATCHES(e.Load("name: [1, 2]\n"), ConfigError,
                       HasMessage(":1:7: name: expected a single value, got a list or mapping", e.Y()));
  CHECK_THROWS_MATCHES(e.Load(""), ConfigError, HasMessage("the experiment file is empty", e.Y()));
}

TEST_CASE("training.frame_targets: read, and refused where it does not apply", "[pipeline][training][experiment]") {
  Experiment e;
  CHECK(e.Load(Experiment::Base()).training.frame_targets == FrameTargets::kClip);
  std::string text = Experiment::Base();
  text.replace(text.find("training: {epochs: 2}"), 21, "training: {epochs: 2, frame_targets: speech}");
  CHECK(e.Load(text).training.frame_targets == FrameTargets::kSpeech);
  std::string bad = Experiment::Base();
  bad.replace(bad.find("training: {epochs: 2}"), 21, "training: {frame_targets: loud}");
  CHECK_THROWS_MATCHES(e.Load(bad), ConfigError, HasMessage("training.frame_targets", e.Y() + ":12:"));
  CHECK_THROWS_MATCHES(e.Load(bad), ConfigError, HasMessage("loud", e.Y()));
  text = Experiment::Base("model: {hidden_size: 8, num_layers: 1, head: attention, attention_size: 4}\n");
  text.replace(text.find("training: {epochs: 2}"), 21, "training: {frame_targets: speech}");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage("training.frame_targets = speech; expected clip for model.head attention", e.Y()));
  text = Experiment::Base();
  text.replace(text.find("labels: [low, high]"), 19, "target: tokens\ntokens: \"ab\"");
  text.replace(text.find("training: {epochs: 2}"), 21, "training: {frame_targets: speech}");
  CHECK_THROWS_MATCHES(e.Load(text), ConfigError,
                       HasMessage("training.frame_targets = speech; expected clip for target tokens", e.Y()));
}

TEST_CASE("data problems fail before training, naming the experiment line and the manifest line",
          "[pipeline][training][experiment]") {
  Experiment e;
  SECTION("missing manifest") {
    std::string text = Experiment::Base();
    text.replace(text.find("data/train.tsv"), 14, "data/nope.tsv");
    const ExperimentConfig c = e.Load(text);
    CHECK_THROWS_MATCHES(LoadExperimentData(c), ConfigError,
                         HasMessage(":8:17: data.train[0].manifest: '" + (e.tmp.path() / "data/nope.tsv").string() +
                                        "' does not exist",
                                    e.Y()));
  }
  SECTION("empty data set") {
    WriteFile(e.tmp.path() / "data/train.tsv", "path\tlabel\ttranscript\n");
    const ExperimentConfig c = e.Load(Experiment::Base());
    CHECK_THROWS_MATCHES(LoadExperimentData(c), Error, HasMessage("train.tsv", e.Y() + ":8:7: data.train[0]: "));
  }
  SECTION("label not in the list") {
    WriteFile(e.tmp.path() / "data/dev.tsv", "path\tlabel\ttranscript\nb.wav\tmiddle\tba\n");
    const ExperimentConfig c = e.Load(Experiment::Base());
    CHECK_THROWS_MATCHES(LoadExperimentData(c), ConfigError, HasMessage("dev.tsv:2: column 'label': label 'middle' is not one of", e.Y() + ":11:7: data.dev[0]: "));
  }
  SECTION("transcript character not in the token set") {
    std::string text = Experiment::Base();
    text.replace(text.find("labels: [low, high]"), 19, "target: tokens\ntokens: a");
    text.replace(text.find("columns: {label: label}"), 23, "columns: {transcript: transcript}");
    const ExperimentConfig c = e.Load(text);
    CHECK_THROWS_MATCHES(LoadExperimentData(c), ConfigError,
                         HasMessage("train.tsv:2: column 'transcript': character 'b'", e.Y() + ":9:7: data.train[0]: "));
  }
  SECTION("a missing label column") {
    std::string text = Experiment::Base();
    text.replace(text.find("columns: {label: label}"), 23, "columns: {label: lable}");
    const ExperimentConfig c = e.Load(text);
    CHECK_THROWS_MATCHES(LoadExperimentData(c), ConfigError,
                         HasMessage("manifest.columns.label = 'lable': no such column", e.Y() + ":8:7: data.train[0]: "));
  }
}

TEST_CASE("the experiment reference lists every key", "[pipeline][training][experiment]") {
  const std::vector<ConfigDocRow> rows = ExperimentConfigDocs();
  auto has = [&](const std::string& key) {
    return std::any_of(rows.begin(), rows.end(), [&](const ConfigDocRow& r) { return r.key == key; });
  };
  for (const char* key : {"name", "labels", "tokens", "features.mel.num_mel_bins", "model.hidden_size",
                          "data.train[].manifest", "data.train[].columns.label", "data.loader.batch_size",
                          "training.optimizer.learning_rate", "training.schedule.warmup_steps",
                          "training.early_stopping_patience", "outputs.dir", "init_from", "init_from_member",
                          "training.frozen_layers", "training.final_model"}) {
    INFO(key);
    CHECK(has(key));
  }
}

}  // namespace
}  // namespace ossicle
