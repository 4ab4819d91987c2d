// The training loop of an experiment (pipeline/experiment-config.h): epochs of shuffled, augmented batches
// (pipeline/training-data.h), the model's training pass and loss (models/training-pass.h, models/losses.h),
// an optimiser step (models/optimizers.h), a dev evaluation after every epoch, per-epoch metrics, checkpoints,
// resume and early stopping; at the end the final model file with its provenance.
//
//   ossicle::ExperimentConfig config = ossicle::LoadExperimentConfig("exp.yaml", overrides);
//   ossicle::Trainer trainer(config, {.resume = false});   // reads and checks the data: errors before training
//   ossicle::TrainResult r = trainer.Run();                 // r.model_path: the final model
//
// Losses: the class target with the frame head trains every valid frame on the clip's label (frame
// cross-entropy) and decides a clip by the arg-max of its summed frame log-probabilities; with the attention
// head, clip cross-entropy. The tokens target uses CTC (blank = class 0). Each step minimises the batch mean:
// the summed loss divided by the counted frames (frame head), clips (attention head) or target tokens (CTC).
//
// Outputs, in config.OutputDir():
//   <outputs.metrics>            one JSON object per epoch: epoch, step, train_loss, train_accuracy (class),
//                                dev_loss, dev_accuracy, dev_token_error_rate (tokens), learning_rate,
//                                seconds, frames_per_s, skipped_steps, best
//   checkpoint-last.safetensors  a model file (AcousticModel::Load reads it) plus the optimiser state and
//                                the trainer state (epoch, batch within the epoch, step, best metric, schedule
//                                state, history, the configuration); written at epoch ends, every
//                                checkpoint_every_steps, and when a stop is requested
//   checkpoint-best.safetensors  the same at the best dev metric so far
//   <outputs.model>              the final model: the best checkpoint's weights (the last ones without a dev
//                                set or with training.final_model: last) with provenance (experiment, configuration, manifests with SHA-256,
//                                metrics, steps)
//
// init_from (pipeline/experiment-config.h): the model starts from a trained model's weights instead of the
// seeded initialisation (its recurrent stack; its head too when the labels and head are the same), for
// fine-tuning; the provenance records the file and its SHA-256. training.frozen_layers keeps the first
// recurrent layers as they start (they are not optimiser slots): with init_from, the pretrained features.
//
// Determinism: initialisation, the batch plan, augmentation and dropout all derive from config.seed (dropout
// of step s from (seed, s)), so a run is repeatable for a fixed training.num_threads, and a run resumed from
// any checkpoint continues exactly as the uninterrupted run would have (mid-epoch too: the loader skips the
// batches already used).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "models/acoustic-model.h"
#include "models/optimizers.h"
#include "pipeline/experiment-config.h"

namespace ossicle {

struct EpochMetrics {
  int64_t epoch = 0;                // 1-based
  int64_t step = 0;                 // optimiser steps done after this epoch (whole run)
  double train_loss = 0;            // mean over the epoch's counted frames / clips / tokens
  double train_accuracy = -1;       // class target: clips right during training (with dropout); else -1
  double dev_loss = -1;             // -1 without a dev set
  double dev_accuracy = -1;         // class: clip accuracy; tokens: 1 - token error rate; -1 without dev
  double dev_token_error_rate = -1; // tokens target only
  double learning_rate = 0;         // at the epoch's last step
  double seconds = 0;               // wall time of the epoch (training and evaluation)
  double frames_per_s = 0;          // training frames per second of training time
  int64_t skipped_steps = 0;        // steps skipped because the gradient was not finite
  bool best = false;                // the best dev metric so far
};

// Reported after every step, for progress bars and log lines.
struct StepProgress {
  int64_t epoch = 0;            // 1-based
  int64_t num_epochs = 0;
  int64_t batch = 0;            // batches done in this epoch
  int64_t num_batches = 0;      // in this epoch
  int64_t step = 0;             // optimiser steps of the whole run
  int64_t total_steps = 0;      // planned for the whole run
  double loss = 0;              // running mean over the epoch so far
  double learning_rate = 0;
  double frames_per_s = 0;      // over the epoch so far
  double eta_s = 0;             // remaining training time, estimated from this epoch's pace
};

struct TrainerOptions {
  bool resume = false;  // continue from checkpoint-last in the output folder (ConfigError when it is absent
                        // or was written by a different configuration)
  bool overwrite = false;  // without resume: replace an earlier run's checkpoints and model in the output
                           // folder (otherwise their presence is a ConfigError, so no run is lost by accident)
  std::function<void(const StepProgress&)> on_step;     // after every step
  std::function<void(const EpochMetrics&)> on_epoch;    // after every epoch's evaluation
  std::function<void(std::string_view)> log;            // status lines ("resumed from ...", "early stop ...")
  std::function<bool()> should_stop;                    // polled between steps: true saves and returns
};

struct TrainResult {
  std::string stop_reason;          // "epochs", "max_steps", "early_stopping", "interrupted"
  int64_t epochs_done = 0;          // complete epochs
  int64_t step = 0;
  std::optional<EpochMetrics> best; // the best epoch (by the dev metric; the last one without dev)
  std::vector<EpochMetrics> history;
  std::string model_path;           // "" when interrupted
  std::string checkpoint_path;      // checkpoint-last
};

class Trainer {
 public:
  // Reads the data and checks everything (manifests, labels, transcripts, a resumable checkpoint) before
  // any training: ConfigError / IoError / AudioError naming the experiment file, line and key.
  Trainer(ExperimentConfig config, TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const ExperimentConfig& Config() const;
  const ExperimentData& Data() const;
  const AcousticModel& Model() const;
  // Optimiser steps the whole run is planned for (epochs x batches, capped by max_steps).
  int64_t TotalSteps() const;
  // With init_from: "PATH: its recurrent stack and output layer (same labels)" or "... recurrent stack (the
  // output layer is new: other labels or head)"; empty without it.
  std::string InitFromDescription() const;

  // Trains until the epochs or max_steps are done, early stopping triggers, or should_stop returns true.
  TrainResult Run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// SHA-256 of a file's bytes as 64 lowercase hex digits (FIPS 180-4). IoError when it cannot be read.
std::string Sha256File(const std::string& path);
// SHA-256 of bytes in memory.
std::string Sha256Hex(std::string_view bytes);

}  // namespace ossicle
