// Writing an EvaluationResult (pipeline/evaluation.h) to a folder: the numbers, a readable report and plots.
//
//   ossicle::ReportFiles files = ossicle::WriteEvaluationReport(result, "eval/fsdd-dev");
//   // eval/fsdd-dev/report.md, metrics.json, clips.tsv, and when gnuplot runs: det.png, confusion.png,
//   // learning-curves.png (each from a data file and a gnuplot script kept next to it)
//
// metrics.json (all rates are fractions in [0, 1]; null where undefined):
//   model, manifest, negatives (a list of manifests; null without), scoring, reference_column, threshold,
//   threshold_source, clips, errors, accuracy, per_class [{label, support, predicted, precision, recall, f1}],
//   confusion {labels, counts},
//   wer, cer (transcripts), word_edits, char_edits, frr_at_1_fa_per_hour, threshold_at_1_fa_per_hour,
//   target_fa_per_hour, calibrated_threshold, frr_at_target, det [{threshold, frr, fa_per_hour}],
//   negative_hours, false_alarms, audio_seconds, wall_seconds, cpu_seconds, x_real_time, plots, notes,
//   error_rows [{path, line, error}].
// Plots: gnuplot (Debian gnuplot-nox), found on PATH or named by $OSSICLE_GNUPLOT. When it is missing or
// fails, the report says "plots skipped" with the reason; the data files and scripts are still written.
#pragma once

#include <string>
#include <vector>

#include "pipeline/evaluation.h"

namespace ossicle {

struct ReportFiles {
  std::string report_md;
  std::string metrics_json;
  std::vector<std::string> plots;  // PNGs written
  std::string plots_skipped;       // why no plots were drawn ("" when all were)
};

// Creates `out_dir` if needed and writes the files. Throws IoError naming the file that cannot be written.
ReportFiles WriteEvaluationReport(const EvaluationResult& result, const std::string& out_dir);

// One epoch of a training run's metrics.jsonl (missing values are NaN).
struct LearningCurvePoint {
  double epoch = 0, train_loss = 0, dev_loss = 0, train_accuracy = 0, dev_accuracy = 0, dev_token_error_rate = 0;
};
// Reads `<run_dir>/metrics.jsonl`; lines that are not JSON objects are skipped. IoError when unreadable.
std::vector<LearningCurvePoint> ReadTrainingMetrics(const std::string& run_dir);

}  // namespace ossicle
