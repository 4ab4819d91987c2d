// The trainer on tiny generated data (tones): it learns, it is repeatable, a resumed run ends exactly where an
// uninterrupted one does, and the outputs (metrics, checkpoints, final model with provenance) are complete.
#include <sndfile.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "features/errors.h"
#include "models/acoustic-model.h"
#include "models/model-ensemble.h"
#include "models/safetensors.h"
#include "pipeline/trainer.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;
namespace fs = std::filesystem;

void WriteTextFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// Three classes of 8 kHz tones (low 250-400 Hz, mid 900-1200 Hz, high 2200-2800 Hz), 0.2-0.3 s long, with
// varied amplitudes; 8 training and 2 dev clips per class. For the tokens target, clip transcripts name
// their tone ("l", "m", "h").
struct ToneData {
  test::ScopedTempDir tmp{"ossicle-trainer"};
  fs::path dir = tmp.path();

  ToneData() {
    const char* names[] = {"low", "mid", "high"};
    const double base_hz[] = {250.0, 900.0, 2200.0};
    const double span_hz[] = {150.0, 300.0, 600.0};
    std::string train = "path\tlabel\ttranscript\n", dev = train;
    fs::create_directories(dir / "audio");
    for (int c = 0; c < 3; ++c) {
      for (int i = 0; i < 10; ++i) {
        const std::string name = std::string(names[c]) + std::to_string(i) + ".wav";
        test::WriteSineFile(dir / "audio", name, 8000, 1, 0.2 + 0.01 * i, SF_FORMAT_WAV | SF_FORMAT_PCM_16,
                            base_hz[c] + span_hz[c] * i / 10.0, 0.1 + 0.08 * i);
        (i < 8 ? train : dev) += "audio/" + name + "\t" + names[c] + "\t" + names[c][0] + "\n";
      }
    }
    WriteTextFile(dir / "train.tsv", train);
    WriteTextFile(dir / "dev.tsv", dev);
  }

  std::string Yaml(const std::string& target = "labels: [low, mid, high]") const {
    return "name: tones\n" + target +
           "\n"
           "features: {frame: {sample_rate_hz: 8000}, mel: {num_mel_bins: 12}}\n"
           "model: {hidden_size: 8, num_layers: 2}\n"
           "data:\n"
           "  train: [{manifest: train.tsv, columns: {label: label, transcript: transcript}}]\n"
           "  dev: [{manifest: dev.tsv, columns: {label: label, transcript: transcript}}]\n"
           "  loader: {batch_size: 5, workers: 1}\n"
           "training:\n"
           "  epochs: 4\n"
           "  dropout: 0.1\n"
           "  optimizer: {type: adam, learning_rate: 0.02, clip_grad_norm: 5}\n"
           "  schedule: {type: warmup_cosine, warmup_steps: 3}\n";
  }
  ExperimentConfig Config(const std::string& out, std::vector<std::string> overrides = {},
                          const std::string& target = "labels: [low, mid, high]") const {
    WriteTextFile(dir / "exp.yaml", Yaml(target));
    overrides.push_back("outputs.dir=" + (dir / out).string());
    return LoadExperimentConfig((dir / "exp.yaml").string(), overrides);
  }
};

// Every tensor of two model files, compared bit for bit.
void RequireSameWeights(const std::string& a, const std::string& b) {
  const SafetensorsFile fa = SafetensorsFile::Open(a), fb = SafetensorsFile::Open(b);
  const auto names = ParameterNames(AcousticModel::Load(a)->Architecture());
  for (const std::string& name : names) {
    INFO(name);
    REQUIRE(fa.ReadFloat(name) == fb.ReadFloat(name));
  }
}

std::vector<nlohmann::json> ReadMetrics(const fs::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST_CASE("SHA-256 of the FIPS 180-4 examples", "[pipeline][training][trainer]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(Sha256Hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  test::ScopedTempDir tmp;
  WriteTextFile(tmp.path() / "x", "abc");
  CHECK(Sha256File((tmp.path() / "x").string()) == Sha256Hex("abc"));
  CHECK_THROWS_AS(Sha256File((tmp.path() / "none").string()), IoError);
}

TEST_CASE("training learns the tones and writes metrics, checkpoints and a model with provenance",
          "[pipeline][training][trainer]") {
  ToneData d;
  ExperimentConfig c = d.Config("run", {"training.epochs=8"});
  std::vector<EpochMetrics> epochs;
  int64_t steps_seen = 0;
  TrainerOptions opt;
  opt.on_epoch = [&](const EpochMetrics& m) { epochs.push_back(m); };
  opt.on_step = [&](const StepProgress& p) {
    ++steps_seen;
    CHECK(p.step == steps_seen);
    CHECK(p.num_batches == 5);  // 24 clips in batches of 5
  };
  Trainer trainer(c, opt);
  CHECK(trainer.TotalSteps() == 40);
  const TrainResult r = trainer.Run();
  CHECK(r.stop_reason == "epochs");
  CHECK(r.epochs_done == 8);
  CHECK(r.step == 40);
  REQUIRE(epochs.size() == 8);
  CHECK(epochs.back().train_loss < 0.5 * epochs.front().train_loss);
  REQUIRE(r.best);
  CHECK(r.best->dev_accuracy >= 5.0 / 6.0);  // tones are easy: at most one of six dev clips wrong

  const fs::path out = d.dir / "run";
  const auto metrics = ReadMetrics(out / "metrics.jsonl");
  REQUIRE(metrics.size() == 8);
  CHECK(metrics[0]["epoch"] == 1);
  CHECK(metrics[7]["step"] == 40);
  CHECK(metrics[7].contains("dev_accuracy"));
  CHECK(metrics[7].contains("train_accuracy"));
  CHECK(fs::exists(out / "checkpoint-last.safetensors"));
  CHECK(fs::exists(out / "checkpoint-best.safetensors"));

  const auto model = AcousticModel::Load(r.model_path);
  CHECK(model->Labels() == std::vector<std::string>{"low", "mid", "high"});
  CHECK(model->Architecture().input_size == 12);
  CHECK_NOTHROW(model->CheckFeatures(c.features, "test"));
  const nlohmann::json p = nlohmann::json::parse(model->ProvenanceJson());
  CHECK(p["experiment"] == "tones");
  CHECK(p["config"].get<std::string>().find("hidden_size: 8") != std::string::npos);
  REQUIRE(p["manifests"].size() == 2);
  CHECK(p["manifests"][0]["sha256"] == Sha256File((d.dir / "train.tsv").string()));
  CHECK(p["manifests"][0]["examples"] == 24);
  CHECK(p["manifests"][1]["part"] == "dev");
  CHECK(p["metrics"]["dev_accuracy"].get<double>() == Approx(r.best->dev_accuracy));
  // The final model holds the best checkpoint's weights.
  RequireSameWeights(r.model_path, (out / "checkpoint-best.safetensors").string());

  // A second run into the same folder is refused unless asked for.
  CHECK_THROWS_MATCHES(Trainer(c, {}), ConfigError, HasMessage("exists from an earlier run; continue it with --resume"));
}

TEST_CASE("two runs with the same seed give identical weights", "[pipeline][training][trainer]") {
  ToneData d;
  const TrainResult a = Trainer(d.Config("a", {"training.epochs=2"})).Run();
  const TrainResult b = Trainer(d.Config("b", {"training.epochs=2"})).Run();
  RequireSameWeights(a.model_path, b.model_path);
  RequireSameWeights((d.dir / "a/checkpoint-last.safetensors").string(),
                     (d.dir / "b/checkpoint-last.safetensors").string());
  // Another seed gives another model.
  const TrainResult other = Trainer(d.Config("c", {"training.epochs=2", "seed=7"})).Run();
  CHECK(SafetensorsFile::Open(other.model_path).ReadFloat("out.weight") !=
        SafetensorsFile::Open(a.model_path).ReadFloat("out.weight"));
}

TEST_CASE("one and two training threads give identical weights", "[pipeline][training][trainer][threads]") {
  // Two threads split the pass, the loss and Adam (models/paired-thread.h) without changing any value.
  ToneData d;
  const TrainResult one = Trainer(d.Config("t1", {"training.epochs=2", "training.num_threads=1"})).Run();
  const TrainResult two = Trainer(d.Config("t2", {"training.epochs=2", "training.num_threads=2"})).Run();
  RequireSameWeights(one.model_path, two.model_path);
  RequireSameWeights((d.dir / "t1/checkpoint-last.safetensors").string(),
                     (d.dir / "t2/checkpoint-last.safetensors").string());
}

TEST_CASE("an interrupted run resumed from its checkpoint ends exactly like an uninterrupted one",
          "[pipeline][training][trainer]") {
  ToneData d;
  // Plateau schedule and early-stopping bookkeeping are part of the state too.
  const std::vector<std::string> set = {"training.epochs=4", "training.schedule.type=plateau",
                                        "training.schedule.plateau_patience=0"};
  const TrainResult straight = Trainer(d.Config("straight", set)).Run();
  REQUIRE(straight.step == 20);

  for (const int64_t stop_at : {7, 10}) {  // mid-epoch (epoch 2, batch 2) and at an epoch's last batch
    INFO("stopped after step " << stop_at);
    const std::string dir = "resumed" + std::to_string(stop_at);
    int64_t steps = 0;
    TrainerOptions stop;
    stop.on_step = [&](const StepProgress&) { ++steps; };
    stop.should_stop = [&] { return steps >= stop_at; };
    const TrainResult first = Trainer(d.Config(dir, set), stop).Run();
    CHECK(first.stop_reason == "interrupted");
    CHECK(first.step == stop_at);
    CHECK(first.model_path.empty());

    TrainerOptions resume;
    resume.resume = true;
    std::vector<std::string> log;
    resume.log = [&](std::string_view line) { log.emplace_back(line); };
    const TrainResult second = Trainer(d.Config(dir, set), resume).Run();
    REQUIRE(!log.empty());
    CHECK(log[0].find("resumed from") == 0);
    CHECK(second.step == 20);
    CHECK(second.epochs_done == 4);
    RequireSameWeights(second.model_path, straight.model_path);
    RequireSameWeights((d.dir / dir / "checkpoint-last.safetensors").string(),
                       (d.dir / "straight/checkpoint-last.safetensors").string());
    // The metrics file holds each epoch once, with the same values as the uninterrupted run (times aside).
    const auto a = ReadMetrics(d.dir / "straight/metrics.jsonl"), b = ReadMetrics(d.dir / dir / "metrics.jsonl");
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i]["train_loss"] == b[i]["train_loss"]);
      CHECK(a[i]["dev_loss"] == b[i]["dev_loss"]);
      CHECK(a[i]["learning_rate"] == b[i]["learning_rate"]);
    }
  }
}

TEST_CASE("resume refuses a missing checkpoint or a changed configuration", "[pipeline][training][trainer]") {
  ToneData d;
  TrainerOptions resume;
  resume.resume = true;
  CHECK_THROWS_MATCHES(Trainer(d.Config("none"), resume), ConfigError,
                       HasMessage("--resume: no checkpoint at " + (d.dir / "none/checkpoint-last.safetensors").string()));
  Trainer(d.Config("run", {"training.epochs=1"})).Run();
  CHECK_THROWS_MATCHES(Trainer(d.Config("run", {"training.epochs=2", "training.optimizer.learning_rate=0.5"}), resume),
                       ConfigError,
                       HasMessage("--resume: training.optimizer.learning_rate = 0.5 but " +
                                  (d.dir / "run/checkpoint-last.safetensors").string() + " was trained with 0.02",
                                  "--set training.optimizer.learning_rate=0.5: "));
  // More epochs are allowed: the run continues.
  const TrainResult more = Trainer(d.Config("run", {"training.epochs=2"}), resume).Run();
  CHECK(more.epochs_done == 2);
  CHECK(more.step == 10);
}

TEST_CASE("init_from starts a run from a trained model's weights", "[pipeline][training][trainer][init]") {
  ToneData d;
  const TrainResult a = Trainer(d.Config("a", {"training.epochs=6"})).Run();
  REQUIRE(a.best);
  const auto source = AcousticModel::Load(a.model_path);
  auto tensor = [](const AcousticModel& m, const std::string& name) {
    for (const ConstParameterView& p : m.Parameters()) {
      if (p.name == name) return std::vector<float>(p.values.begin(), p.values.end());
    }
    FAIL("no tensor " << name);
    return std::vector<float>{};
  };

  // Same labels: every tensor starts as the source's (the path is relative to the experiment file's folder).
  {
    Trainer t(d.Config("same", {"init_from=a/model.safetensors"}));
    CHECK(t.InitFromDescription() == (d.dir / "a/model.safetensors").string() +
                                         ": its recurrent stack and output layer (same labels)");
    for (const std::string& name : ParameterNames(source->Architecture())) {
      INFO(name);
      CHECK(tensor(t.Model(), name) == tensor(*source, name));
    }
  }
  // ... so one step at a negligible learning rate already classifies as the source does.
  const TrainResult tuned = Trainer(d.Config("tuned", {"init_from=a/model.safetensors", "training.max_steps=1",
                                                      "training.optimizer.type=sgd",
                                                      "training.optimizer.learning_rate=1e-9"}))
                                .Run();
  REQUIRE(tuned.best);
  CHECK(tuned.best->dev_accuracy == a.best->dev_accuracy);
  const nlohmann::json p = nlohmann::json::parse(AcousticModel::Load(tuned.model_path)->ProvenanceJson());
  CHECK(p["init_from"]["path"] == (d.dir / "a/model.safetensors").string());
  CHECK(p["init_from"]["sha256"] == Sha256File(a.model_path));
  CHECK(p["init_from"]["head"] == "copied (same labels)");

  // Other labels: the recurrent stack is the source's, the output layer is new.
  {
    Trainer t(d.Config("other", {"init_from=a/model.safetensors"}, "labels: [high, mid, low]"));
    CHECK_THAT(t.InitFromDescription(), Catch::Matchers::EndsWith("(the output layer is new: other labels or head)"));
    CHECK(tensor(t.Model(), "rnn.weight_hh_l1_reverse") == tensor(*source, "rnn.weight_hh_l1_reverse"));
    CHECK(tensor(t.Model(), "rnn.bias_ih_l0") == tensor(*source, "rnn.bias_ih_l0"));
    CHECK(tensor(t.Model(), "out.weight") != tensor(*source, "out.weight"));
    const TrainResult r = Trainer(d.Config("other-run", {"init_from=a/model.safetensors", "training.max_steps=1"},
                                           "labels: [high, mid, low]"))
                              .Run();
    const nlohmann::json q = nlohmann::json::parse(AcousticModel::Load(r.model_path)->ProvenanceJson());
    CHECK(q["init_from"]["head"] == "new (other labels or head)");
  }

  // Frozen layers keep the source's weights; the rest trains.
  {
    const TrainResult r = Trainer(d.Config("frozen", {"init_from=a/model.safetensors", "training.frozen_layers=1",
                                                      "training.epochs=1"},
                                           "labels: [high, mid, low]"))
                              .Run();
    const auto m = AcousticModel::Load(r.model_path);
    for (const char* name : {"rnn.weight_ih_l0", "rnn.weight_hh_l0_reverse", "rnn.bias_hh_l0"}) {
      INFO(name);
      CHECK(tensor(*m, name) == tensor(*source, name));
    }
    CHECK(tensor(*m, "rnn.weight_ih_l1") != tensor(*source, "rnn.weight_ih_l1"));
    CHECK(tensor(*m, "rnn.bias_hh_l1_reverse") != tensor(*source, "rnn.bias_hh_l1_reverse"));
    const TrainResult all = Trainer(d.Config("frozen-all", {"init_from=a/model.safetensors", "training.frozen_layers=2",
                                                            "training.epochs=1"},
                                             "labels: [high, mid, low]"))
                                .Run();
    const auto n = AcousticModel::Load(all.model_path);
    CHECK(tensor(*n, "rnn.weight_hh_l1_reverse") == tensor(*source, "rnn.weight_hh_l1_reverse"));
    CHECK(tensor(*n, "out.weight") != tensor(Trainer(d.Config("fresh-head", {"init_from=a/model.safetensors"},
                                                              "labels: [high, mid, low]"))
                                                  .Model(),
                                              "out.weight"));
    CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"training.frozen_layers=3"})), ConfigError,
                         HasMessage("training.frozen_layers = 3; expected between 0 and model.num_layers (2)"));
  }

  // A model that does not fit is refused at the init_from key, naming the file and the difference.
  const std::string path = (d.dir / "a/model.safetensors").string();
  CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"init_from=a/model.safetensors", "model.hidden_size=16"})),
                       ConfigError,
                       HasMessage("init_from: " + path + ": hidden_size is 8 but the experiment's model.hidden_size is 16",
                                  "--set init_from=a/model.safetensors: "));
  CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"init_from=a/model.safetensors", "model.cell=gru"})), ConfigError,
                       HasMessage("cell is lstm but the experiment's model.cell is gru"));
  CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"init_from=a/model.safetensors", "features.mel.num_mel_bins=10"})),
                       ConfigError, HasMessage("features.mel.num_mel_bins = 10 but the model was trained with 12"));
  CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"init_from=none.safetensors"})), ConfigError,
                       HasMessage("init_from: " + (d.dir / "none.safetensors").string() + ": "));
  const std::vector<EnsembleMember> pair = {{"a", source}, {"a again", source}};
  EnsembleModels(pair)->Save((d.dir / "pair.safetensors").string());
  CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"init_from=pair.safetensors"})), ConfigError,
                       HasMessage("an ensemble of 2 models; choose one with init_from_member"));
  CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"init_from=pair.safetensors", "init_from_member=2"})), ConfigError,
                       HasMessage("init_from_member = 2 but the file holds 2 members (0 to 1)"));
  CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"init_from_member=1"})), ConfigError,
                       HasMessage("init_from_member: only with init_from"));
  CHECK_THROWS_MATCHES(Trainer(d.Config("bad", {"init_from=pair.safetensors", "init_from_member=-1"})), ConfigError,
                       HasMessage("expected a member index >= 0"));
  // A member of an ensemble file: its own weights.
  const std::vector<EnsembleMember> mixed = {{"fresh", AcousticModel::Initialize(source->Architecture(),
                                                                                 source->Features(),
                                                                                 source->Labels(), 99)},
                                             {"a", source}};
  EnsembleModels(mixed)->Save((d.dir / "mixed.safetensors").string());
  {
    Trainer t(d.Config("member", {"init_from=mixed.safetensors", "init_from_member=1"}));
    for (const std::string& name : ParameterNames(source->Architecture())) {
      INFO(name);
      CHECK(tensor(t.Model(), name) == tensor(*source, name));
    }
  }
}

TEST_CASE("final_model: last keeps the last epoch's weights", "[pipeline][training][trainer]") {
  ToneData d;
  // A learning rate far too high: the dev accuracy jumps around, so the best epoch is not the last one.
  const std::vector<std::string> chaotic = {"training.epochs=6", "training.optimizer.learning_rate=0.5"};
  std::vector<std::string> last_run = chaotic;
  last_run.push_back("training.final_model=last");
  const TrainResult last = Trainer(d.Config("last", last_run)).Run();
  const TrainResult best = Trainer(d.Config("best", chaotic)).Run();
  REQUIRE(best.best);
  REQUIRE(best.best->epoch != 6);  // else this test could not tell the two apart
  RequireSameWeights(last.model_path, (d.dir / "last/checkpoint-last.safetensors").string());
  RequireSameWeights(best.model_path, (d.dir / "best/checkpoint-best.safetensors").string());
  const nlohmann::json p = nlohmann::json::parse(AcousticModel::Load(last.model_path)->ProvenanceJson());
  CHECK(p["final_model"] == "last");
  CHECK(p["metrics"]["epoch"] == 6);
  const nlohmann::json q = nlohmann::json::parse(AcousticModel::Load(best.model_path)->ProvenanceJson());
  CHECK(q["final_model"] == "best");
  CHECK(q["metrics"]["epoch"] == best.best->epoch);
}

TEST_CASE("max_steps and early stopping end a run", "[pipeline][training][trainer]") {
  ToneData d;
  const TrainResult r = Trainer(d.Config("steps", {"training.max_steps=3"})).Run();
  CHECK(r.stop_reason == "max_steps");
  CHECK(r.step == 3);
  CHECK(r.epochs_done == 1);
  CHECK(fs::exists(r.model_path));

  // With the dev loss as the metric and a learning rate far too high, the loss stops improving at once.
  const TrainResult e = Trainer(d.Config("early", {"training.epochs=30", "training.early_stopping_patience=2",
                                                  "training.dev_metric=loss", "training.optimizer.type=sgd",
                                                  "training.optimizer.learning_rate=1e-9"}))
                            .Run();
  CHECK(e.stop_reason == "early_stopping");
  CHECK(e.epochs_done < 30);
}

TEST_CASE("CTC training over characters or word tokens runs and reports token errors", "[pipeline][training][trainer]") {
  ToneData d;
  const TrainResult r =
      Trainer(d.Config("ctc", {"training.epochs=3"}, "target: tokens\ntokens: lmh")).Run();
  REQUIRE(r.history.size() == 3);
  for (const EpochMetrics& m : r.history) {
    CHECK(std::isfinite(m.train_loss));
    CHECK(m.dev_token_error_rate >= 0.0);
    CHECK(m.dev_accuracy == Approx(1.0 - m.dev_token_error_rate));
    CHECK(m.train_accuracy < 0);  // class target only
  }
  CHECK(r.history.back().train_loss < r.history.front().train_loss);
  const auto model = AcousticModel::Load(r.model_path);
  CHECK(model->Labels() == std::vector<std::string>{"<blank>", "l", "m", "h"});

  // Word tokens: the one-letter transcripts are one word each, so the targets, and with them the whole run,
  // are those of the character run; only the labels differ (U+2581 + word).
  const TrainResult w =
      Trainer(d.Config("ctc-words", {"training.epochs=3"}, "target: tokens\nword_tokens: [l, m, h]")).Run();
  REQUIRE(w.history.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(w.history[i].train_loss == r.history[i].train_loss);
    CHECK(w.history[i].dev_token_error_rate == r.history[i].dev_token_error_rate);
  }
  const std::string m = "\xE2\x96\x81";
  CHECK(AcousticModel::Load(w.model_path)->Labels() == std::vector<std::string>{"<blank>", m + "l", m + "m", m + "h"});
}

}  // namespace
}  // namespace ossicle
