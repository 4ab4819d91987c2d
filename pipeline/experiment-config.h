// A training experiment in one YAML file: what to learn (labels or tokens), the front end, the model, the
// data, the training recipe and where the results go. `ossicle train EXPERIMENT.yaml` runs it.
//
//   # Spoken digits (FSDD, 8 kHz).
//   name: fsdd-digits
//   seed: 1
//   target: class                       # class (one label per clip) | tokens (CTC: `tokens` characters or `word_tokens`)
//   labels: [zero, one, two, three, four, five, six, seven, eight, nine]
//   features_file: ../features/kaldi-fbank-40.yaml     # optional base; `features:` keys override it
//   features: {frame: {sample_rate_hz: 8000}, cmvn: {mode: utterance}}
//   init_from: ../../runs/other/model.safetensors   # optional: start from a trained model's weights
//   model: {cell: lstm, hidden_size: 64, num_layers: 2, head: attention, attention_size: 32}
//   data:
//     train: [{manifest: ../../../shared/data/fsdd/train.tsv, columns: {label: transcript}}]
//     dev:   [{manifest: ../../../shared/data/fsdd/dev.tsv, columns: {label: transcript}}]
//     loader: {batch_size: 32}
//   training: {epochs: 15, optimizer: {type: adam, learning_rate: 0.002}}
//   outputs: {dir: runs/fsdd}
//
// Reading is strict (pipeline/config-yaml.h): unknown keys, wrong types and broken rules are ConfigErrors
// that start with "file:line:column: key.path:". Paths of manifests and feature files resolve against the
// YAML file's folder; outputs.dir against the working directory (a run's results belong where it is run).
// The model's input_size and num_classes are derived (features Dim(), number of labels, tokens + blank);
// giving them is allowed, and a value that does not fit is an error at its line.
//
// Checks before any training (CheckExperimentData, run by the trainer before the first step): every manifest
// exists and is readable, every label / transcript character can be emitted by the model, there are
// training examples (and dev examples when a dev set is given). Errors name the experiment file, line and
// key, then the manifest line: "exp.yaml:14:7: data.train[0]: train.tsv:7: label 'ten' is not one of ...".
#pragma once

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "features/feature-config.h"
#include "models/acoustic-model.h"
#include "models/losses.h"
#include "models/optimizers.h"
#include "models/training-pass.h"
#include "pipeline/config-yaml.h"
#include "pipeline/manifest.h"
#include "pipeline/training-data.h"

namespace ossicle {

// One manifest of a data set, with the columns to read.
struct ManifestSource {
  std::string manifest;        // TSV file (pipeline/manifest.h)
  ManifestColumns columns;     // which columns hold the path, label, transcript, duration
  std::string unknown_label;   // class target: labels not in the list map to this class ("" = error)

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"manifest", "path", "TSV manifest (header line, one example per line)"}, self.manifest);
    v(FieldInfo{"columns", "", "manifest columns to read"}, self.columns);
    v(FieldInfo{"unknown_label", "", "class target: other labels map to this class (empty = error)"},
      self.unknown_label);
  }
};

enum class DevMetric {
  kAccuracy,  // class: clips whose arg-max class is right; tokens: 1 - token error rate (greedy decoding)
  kLoss,      // the mean dev loss (lower is better)
};
template <>
struct EnumNames<DevMetric> {
  static constexpr std::array kValues{std::pair{DevMetric::kAccuracy, std::string_view{"accuracy"}},
                                      std::pair{DevMetric::kLoss, std::string_view{"loss"}}};
};

// Which weights the final model file (outputs.model) holds.
enum class FinalModel {
  kBest,  // the epoch with the best dev metric (the last epoch without a dev set)
  kLast,  // the last epoch, whatever the dev metric says
};
template <>
struct EnumNames<FinalModel> {
  static constexpr std::array kValues{std::pair{FinalModel::kBest, std::string_view{"best"}},
                                      std::pair{FinalModel::kLast, std::string_view{"last"}}};
};

// Class target with a frame head: which frames of a clip are trained on its label.
enum class FrameTargets {
  kClip,    // every frame carries the clip's label; a clip is decided by its summed frame log-probabilities
  kSpeech,  // filler clips (labels starting with '_' or '<') keep their label on every frame; a keyword
            // clip's loud frames carry its label, its quiet frames "_silence_" (ignored without that class),
            // the frames between are ignored. Decided by the peak keyword posterior (>= 0.5), else the filler
            // with the largest summed log-probability: the streaming spotter's view (pipeline/frame-targets.h).
};
template <>
struct EnumNames<FrameTargets> {
  static constexpr std::array kValues{std::pair{FrameTargets::kClip, std::string_view{"clip"}},
                                      std::pair{FrameTargets::kSpeech, std::string_view{"speech"}}};
};

struct TrainingConfig {
  int epochs = 20;                       // passes over the training data
  int64_t max_steps = 0;                 // stop after this many optimiser steps in total (0 = no cap)
  OptimizerConfig optimizer;
  LrScheduleConfig schedule;
  float dropout = 0.0f;                  // between stacked recurrent layers
  int num_threads = 1;                   // threads of the training pass and the dev evaluation
  CrossEntropyConfig cross_entropy;      // class target
  FrameTargets frame_targets = FrameTargets::kClip;  // class target + frame head
  bool ctc_zero_infinity = true;         // tokens target: ignore clips too short for their transcript
  DevMetric dev_metric = DevMetric::kAccuracy;
  int early_stopping_patience = 0;       // stop after this many epochs without a better dev metric (0 = off)
  int64_t log_every_steps = 50;          // a log line every this many steps when not on a terminal
  int64_t checkpoint_every_steps = 0;    // also save checkpoint-last mid-epoch (0 = at epoch ends only)
  int frozen_layers = 0;                 // the first recurrent layers keep their starting weights (init_from)
  FinalModel final_model = FinalModel::kBest;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"epochs", "", "passes over the training data"}, self.epochs);
    v(FieldInfo{"max_steps", "steps", "stop after this many optimiser steps (0 = no cap)"}, self.max_steps);
    v(FieldInfo{"optimizer", "", "update rule, learning rate, weight decay, clipping"}, self.optimizer);
    v(FieldInfo{"schedule", "", "learning-rate schedule"}, self.schedule);
    v(FieldInfo{"dropout", "", "dropout between stacked recurrent layers (probability)"}, self.dropout);
    v(FieldInfo{"num_threads", "", "threads for training steps and dev evaluation"}, self.num_threads);
    v(FieldInfo{"cross_entropy", "", "class target: cross-entropy options"}, self.cross_entropy);
    v(FieldInfo{"frame_targets", "",
                "class target + frame head: clip (every frame has the clip's label) or speech (keyword clips: "
                "loud frames the keyword, quiet frames _silence_, others ignored; filler clips every frame)"},
      self.frame_targets);
    v(FieldInfo{"ctc_zero_infinity", "", "tokens target: zero the loss of clips too short for their text"},
      self.ctc_zero_infinity);
    v(FieldInfo{"dev_metric", "", "dev metric for the best checkpoint, plateau schedule and early stopping"},
      self.dev_metric);
    v(FieldInfo{"early_stopping_patience", "epochs", "stop after this many epochs without improvement (0 = off)"},
      self.early_stopping_patience);
    v(FieldInfo{"log_every_steps", "steps", "log line interval when not on a terminal"}, self.log_every_steps);
    v(FieldInfo{"checkpoint_every_steps", "steps", "mid-epoch checkpoint interval (0 = epoch ends only)"},
      self.checkpoint_every_steps);
    v(FieldInfo{"frozen_layers", "",
                "recurrent layers, from the input, whose weights are not trained (both directions; with init_from "
                "they keep the starting model's; 0 = train every layer)"},
      self.frozen_layers);
    v(FieldInfo{"final_model", "",
                "the weights of outputs.model: best (the best dev epoch) or last (the last epoch, when the dev "
                "metric is a poor guide)"},
      self.final_model);
  }
};

struct OutputsConfig {
  std::string dir;                         // "" = runs/<name>; relative to the working directory
  std::string model = "model.safetensors"; // the final model (best dev checkpoint), inside dir
  std::string metrics = "metrics.jsonl";   // one JSON object per epoch, inside dir

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"dir", "", "output folder (empty = runs/<name>), relative to the working directory"}, self.dir);
    v(FieldInfo{"model", "", "final model file name inside dir"}, self.model);
    v(FieldInfo{"metrics", "", "per-epoch metrics (JSON lines) file name inside dir"}, self.metrics);
  }
};

struct ExperimentConfig {
  std::string name = "experiment";
  std::string description;
  uint64_t seed = 1;
  TargetType target = TargetType::kClass;
  std::vector<std::string> labels;   // class target: the class names; tokens target: "<blank>" + tokens
  std::string tokens;                // tokens target: the token characters (UTF-8), blank excluded
  std::vector<std::string> word_tokens;  // tokens target: whole words instead (labels "<blank>", "▁" + word)
  std::string features_file;         // optional base feature configuration (YAML)
  // Optional trained model whose weights start this training (fine-tuning, pipeline/trainer.h): its recurrent
  // stack always, its output layer when the labels and head are the same. Resolved against the YAML's folder.
  std::string init_from;
  int init_from_member = -1;  // init_from is an ensemble: start from this member (0-based, as members.<m>.)
  FeatureConfig features;
  ModelArchitecture model;           // input_size and num_classes derived when not given
  std::vector<ManifestSource> train;
  std::vector<ManifestSource> dev;
  DataConfig loader;
  TrainingConfig training;
  OutputsConfig outputs;

  // "file:line:column" of the keys that were given, by key path ("labels", "data.train[0].manifest",
  // "model.num_classes", ...), for messages about rules that involve the data.
  std::map<std::string, std::string> marks;
  std::string source_file;  // the YAML file ("" for text)
  std::string yaml;         // the configuration as run (after --set), saved in checkpoints and the model

  // "file:line:column: key: " for a key (its nearest given parent's mark when the key itself was not
  // given, the file alone when none was).
  std::string Where(const std::string& key_path) const;
  // outputs.dir, defaulted.
  std::string OutputDir() const;
};

// Reads and validates an experiment (every rule that does not need the data). `overrides` are "a.b=value"
// assignments applied to the YAML before reading (--set). ConfigError / IoError as described above.
ExperimentConfig LoadExperimentConfig(const std::string& yaml_path, const std::vector<std::string>& overrides = {});
ExperimentConfig ParseExperimentConfig(const YAML::Node& root, const YamlSource& source);

// The datasets of an experiment, read and checked (manifests exist, labels and transcripts fit the model,
// not empty). Errors start with the experiment's Where() of the manifest entry.
struct ExperimentData {
  Dataset train;
  Dataset dev;
  std::vector<std::string> manifest_paths;   // every manifest read, in order (train then dev)
  std::vector<int64_t> manifest_examples;    // examples each of them added
  int64_t synthetic_examples = 0;            // synthetic training examples
};
ExperimentData LoadExperimentData(const ExperimentConfig& config);

// One row per key of the experiment file, for the generated reference (configs/README.md).
std::vector<ConfigDocRow> ExperimentConfigDocs();

}  // namespace ossicle
