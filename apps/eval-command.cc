// ossicle eval --model MODEL --manifest FILE.tsv [--negatives FILE.tsv ...] --out DIR — accuracy, confusion,
// per-class precision/recall, DET curve and calibrated threshold, WER/CER (pipeline/evaluation.h), written
// as DIR/report.md, DIR/metrics.json, DIR/clips.tsv and PNG plots (pipeline/report-writer.h).
#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "features/errors.h"
#include "pipeline/evaluation.h"
#include "pipeline/report-writer.h"

namespace ossicle {

CommandRunner AddEvalCommand(CLI::App& app) {
  struct Options {
    EvaluationConfig config;
    std::string out;
    std::vector<std::string> columns;
    std::optional<double> threshold;
    std::string progress = "auto";
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Evaluate a model on a manifest: accuracy, confusion, precision/recall, DET and threshold for a "
              "false-alarm rate, WER/CER; writes report.md, metrics.json and plots");
  cmd->add_option("--model", opt->config.model, "Model file (.safetensors)")->required();
  cmd->add_option("--manifest", opt->config.manifest,
                  "Manifest (TSV with a header; 'path' relative to the manifest, and a label, keyword or transcript "
                  "column)")
      ->required();
  cmd->add_option("--negatives", opt->config.negatives,
                  "Manifests of audio without keywords (one or more, read as one set): false alarms per hour, DET "
                  "curve, calibrated threshold");
  cmd->add_option("--out", opt->out, "Output folder (created if needed)")->required();
  cmd->add_option("--target-fa-per-hour", opt->config.target_fa_per_hour,
                  "False alarms per hour the calibrated threshold must meet")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threshold", opt->threshold,
                  "Decision threshold in (0, 1] (default: the model's decoder metadata, else 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--jobs", opt->config.jobs, "Clips scored in parallel")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--columns", opt->columns,
                  "Manifest columns: path=COL, label=COL (or keyword=COL) and/or transcript=COL; comma-separated "
                  "(default: auto-detected)")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_flag("--skip-damaged", opt->config.skip_damaged,
               "Leave out of every figure the clips and negative files whose audio is damaged or truncated "
               "(default: score them as they decode; either way they are listed)");
  cmd->add_option("--run-dir", opt->config.run_dir,
                  "Training run folder with metrics.jsonl for learning curves (default: the model's folder when it "
                  "has one)");
  cmd->add_option("--progress", opt->progress, "Progress line on stderr: auto (on a terminal), always, never")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));

  return [opt]() {
    EvaluationConfig config = opt->config;
    config.threshold = opt->threshold;
    for (const std::string& item : opt->columns) {
      const size_t eq = item.find('=');
      const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
      if (eq == std::string::npos || value.empty()) {
        throw ConfigError("--columns " + item + ": expected KEY=COLUMN with KEY one of path, label, keyword, transcript");
      }
      if (key == "path") {
        config.path_column = value;
      } else if (key == "label" || key == "keyword") {
        config.label_column = value;
      } else if (key == "transcript") {
        config.transcript_column = value;
      } else {
        throw ConfigError("--columns " + item + ": unknown key '" + key +
                          "'; expected one of path, label, keyword, transcript");
      }
    }
    const bool show = opt->progress == "always" || (opt->progress == "auto" && ::isatty(STDERR_FILENO));
    if (show) {
      config.on_progress = [](int64_t done, int64_t total) {
        fmt::print(stderr, "\rscoring {}/{} clips", done, total);
        if (done == total) fmt::print(stderr, "\n");
        std::fflush(stderr);
      };
    }
    const EvaluationResult r = Evaluate(config);
    const ReportFiles files = WriteEvaluationReport(r, opt->out);

    // A summary on stdout; the details are in the report.
    fmt::print("model {} ({}), scoring {}, reference column '{}'\n", config.model, r.model_description,
               EnumToString(r.scoring), r.reference_column);
    fmt::print("clips: {} scored, {} errors, {:.1f} s audio, {:.1f}x real time\n",
               static_cast<int64_t>(r.clips.size()) - r.num_errors, r.num_errors, r.audio_seconds,
               r.wall_seconds > 0 ? r.audio_seconds / r.wall_seconds : 0.0);
    if (r.reference_kind == ReferenceKind::kLabel) {
      fmt::print("accuracy {:.4f} ({} of {})\n", r.accuracy, r.confusion->Correct(), r.confusion->Total());
    } else {
      fmt::print("WER {:.4f}  CER {:.4f}  exact {:.4f}\n", ErrorRate(*r.word_edits), ErrorRate(*r.char_edits),
                 r.accuracy);
    }
    if (r.at_1_fa_per_hour) {
      fmt::print("false rejects at 1 FA/h: {:.4f} (threshold {:.4f}); {:.3f} h of negatives\n",
                 r.at_1_fa_per_hour->point.false_reject_rate, r.at_1_fa_per_hour->point.threshold, r.negative_hours);
    }
    if (r.at_target) {
      fmt::print("calibrated threshold for {:g} FA/h: {:.4f}{} (false rejects {:.4f})\n", r.at_target->target_fa_per_hour,
                 r.at_target->point.threshold, r.at_target->reachable ? "" : " (unreachable)",
                 r.at_target->point.false_reject_rate);
    }
    for (const ClipResult& c : r.clips)
      if (!c.error.empty()) fmt::print(stderr, "error: {}\n", c.error);
    for (const ClipResult& c : r.negative_errors) fmt::print(stderr, "error: {}\n", c.error);
    if (!files.plots_skipped.empty()) fmt::print(stderr, "warning: plots skipped: {}\n", files.plots_skipped);
    fmt::print("report: {}\nmetrics: {}\n", files.report_md, files.metrics_json);
    return kExitOk;
  };
}

}  // namespace ossicle
