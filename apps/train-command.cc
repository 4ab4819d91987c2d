// ossicle train EXPERIMENT.yaml — train an acoustic model as an experiment file describes (pipeline/trainer.h).
//
// On a terminal a progress line (epoch, batch, step, loss, learning rate, frames/s, ETA) is redrawn on stderr;
// otherwise a plain log line goes to stdout every training.log_every_steps steps. One summary line per epoch
// and the final summary always go to stdout. Ctrl-C stops at the next step boundary, saves checkpoint-last
// and exits 0; `--resume` continues from it exactly.
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "features/errors.h"
#include "pipeline/experiment-config.h"
#include "pipeline/progress-bar.h"
#include "pipeline/stop-signal.h"
#include "pipeline/trainer.h"

namespace ossicle {

namespace {

struct TrainOptions {
  std::string experiment;
  std::vector<std::string> overrides;
  bool resume = false;
  bool overwrite = false;
  bool check_only = false;
  std::string progress = "auto";
};

// "epoch 3/15  [=====>     ]  12/63  step 138/945  loss 0.4231  lr 2.00e-03  5321 frames/s  ETA 1:23",
// cut to `width` (the bar is dropped first; log lines have none).
std::string ProgressLine(const StepProgress& p, int width, bool bar_wanted = true) {
  const std::string head = fmt::format("epoch {}/{}", p.epoch, p.num_epochs);
  const std::string tail =
      fmt::format("{}/{}  step {}/{}  loss {:.4f}  lr {:.2e}  {:.0f} frames/s  ETA {}", p.batch, p.num_batches,
                  p.step, p.total_steps, p.loss, p.learning_rate, p.frames_per_s, FormatDuration(p.eta_s));
  const int room = width - static_cast<int>(head.size() + tail.size()) - 6;
  std::string line = head;
  if (bar_wanted && room >= 10) {
    const int bar = std::min(room, 30);
    const auto filled = static_cast<int>(static_cast<double>(bar) * static_cast<double>(p.batch) /
                                         static_cast<double>(std::max<int64_t>(1, p.num_batches)));
    line += "  [" + std::string(static_cast<size_t>(filled), '=') +
            std::string(static_cast<size_t>(bar - filled), ' ') + "]";
  }
  line += "  " + tail;
  if (static_cast<int>(line.size()) > width) line.resize(static_cast<size_t>(std::max(0, width)));
  return line;
}

std::string EpochLine(const EpochMetrics& m, int64_t num_epochs, TargetType target) {
  std::string line = fmt::format("epoch {}/{}: train loss {:.4f}", m.epoch, num_epochs, m.train_loss);
  if (m.train_accuracy >= 0) line += fmt::format(" acc {:.4f}", m.train_accuracy);
  if (m.dev_loss >= 0) {
    line += fmt::format(", dev loss {:.4f}", m.dev_loss);
    if (target == TargetType::kTokens) {
      line += fmt::format(" token error rate {:.4f}", m.dev_token_error_rate);
    } else {
      line += fmt::format(" acc {:.4f}", m.dev_accuracy);
    }
  }
  line += fmt::format(", lr {:.2e}, {:.0f} frames/s, {:.1f} s", m.learning_rate, m.frames_per_s, m.seconds);
  if (m.skipped_steps > 0) line += fmt::format(", {} steps skipped (non-finite gradients)", m.skipped_steps);
  if (m.best) line += " (best)";
  return line;
}

int RunTrain(const TrainOptions& opt) {
  const ExperimentConfig config = LoadExperimentConfig(opt.experiment, opt.overrides);
  const auto mode = EnumFromString<ProgressMode>(opt.progress).value_or(ProgressMode::kAuto);
  const bool draw = mode == ProgressMode::kAlways || (mode == ProgressMode::kAuto && isatty(fileno(stderr)) == 1);
  bool line_open = false;  // a progress line is on stderr
  auto end_line = [&] {
    if (line_open) std::fputs("\n", stderr);
    line_open = false;
  };

  TrainerOptions topt;
  topt.resume = opt.resume;
  topt.overwrite = opt.overwrite;
  topt.log = [&](std::string_view line) {
    end_line();
    fmt::print("{}\n", line);
    std::fflush(stdout);
  };
  auto last_draw = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  topt.on_step = [&](const StepProgress& p) {
    if (draw) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_draw < std::chrono::milliseconds(100) && p.batch != p.num_batches) return;
      last_draw = now;
      const int width = TerminalWidth(stderr) - 1;
      fmt::print(stderr, "\r{:<{}}", ProgressLine(p, width), width);
      std::fflush(stderr);
      line_open = true;
    } else if (p.step % config.training.log_every_steps == 0) {
      fmt::print("{}\n", ProgressLine(p, 1000, /*bar_wanted=*/false));
      std::fflush(stdout);
    }
  };
  topt.on_epoch = [&](const EpochMetrics& m) {
    end_line();
    fmt::print("{}\n", EpochLine(m, config.training.epochs, config.target));
    std::fflush(stdout);
  };
  ScopedStopSignals signals;
  topt.should_stop = [] { return StopRequested(); };

  Trainer trainer(config, topt);
  const ExperimentData& data = trainer.Data();
  const ModelArchitecture& a = config.model;
  fmt::print("experiment {} ({}): {} training examples ({:.1f} min){}, {} {}\n", config.name, config.source_file,
             data.train.Size(), data.train.TotalDurationSeconds() / 60.0,
             config.dev.empty() ? std::string(", no dev set")
                                : fmt::format(", {} dev examples ({:.1f} min)", data.dev.Size(),
                                              data.dev.TotalDurationSeconds() / 60.0),
             config.labels.size() - (config.target == TargetType::kTokens ? 1 : 0),
             config.target == TargetType::kTokens ? "tokens + blank (CTC)" : "classes");
  fmt::print("model: {} {}x{}{}, {} head, {} parameters; {} steps planned, output in {}\n",
             a.cell == CellType::kLstm ? "LSTM" : "GRU", a.num_layers, a.hidden_size,
             a.bidirectional ? " bidirectional" : "", EnumToString(a.head), trainer.Model().NumParameters(),
             trainer.TotalSteps(), config.OutputDir());
  if (!config.init_from.empty()) fmt::print("starting from {}\n", trainer.InitFromDescription());
  std::fflush(stdout);
  if (opt.check_only) {
    fmt::print("check: the experiment and its data are valid (no training done)\n");
    return kExitOk;
  }

  const TrainResult r = trainer.Run();
  end_line();
  if (r.stop_reason == "interrupted") {
    fmt::print("interrupted after {} steps; checkpoint: {}\n", r.step, r.checkpoint_path);
    return kExitOk;
  }
  std::string best;
  if (r.best) {
    best = r.best->dev_accuracy >= 0 ? fmt::format("best epoch {}: dev accuracy {:.4f}, dev loss {:.4f}", r.best->epoch,
                                                   r.best->dev_accuracy, r.best->dev_loss)
                                     : fmt::format("last epoch {}: train loss {:.4f}", r.best->epoch,
                                                   r.best->train_loss);
  }
  fmt::print("done ({}) after {} epochs, {} steps; {}\nmodel: {}\n", r.stop_reason, r.epochs_done, r.step, best,
             r.model_path);
  return kExitOk;
}

}  // namespace

CommandRunner AddTrainCommand(CLI::App& app) {
  auto opt = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "Train an acoustic model from an experiment file (YAML)");
  cmd->add_option("experiment", opt->experiment, "Experiment file (see docs/training.md)")->required();
  AddSetOption(*cmd, opt->overrides, "Override a key: --set training.epochs=5");
  CLI::Option* resume = cmd->add_flag("--resume", opt->resume, "Continue from checkpoint-last in the output folder");
  cmd->add_flag("--overwrite", opt->overwrite, "Replace an earlier run's results in the output folder")
      ->excludes(resume);
  cmd->add_flag("--check", opt->check_only, "Check the experiment and its data, then stop (no training)");
  cmd->add_option("--progress", opt->progress, "Progress line on stderr: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  return [opt]() { return RunTrain(*opt); };
}

}  // namespace ossicle
