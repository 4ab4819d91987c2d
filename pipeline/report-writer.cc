#include "pipeline/report-writer.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "features/errors.h"

namespace ossicle {

namespace fs = std::filesystem;

namespace {

nlohmann::json Optional(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
nlohmann::json Finite(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw IoError(path.string() + ": cannot write");
}

std::string Percent(double v) { return fmt::format("{:.2f}%", 100.0 * v); }
std::string Percent(const std::optional<double>& v) { return v ? Percent(*v) : "-"; }

// Markdown table cells must not contain '|' or newlines.
std::string Cell(std::string s) {
  for (char& c : s)
    if (c == '|' || c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s;
}

// A TSV field: tabs and newlines replaced.
std::string Field(std::string s) {
  for (char& c : s)
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  return s;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A gnuplot string literal (single quotes; a quote is doubled).
std::string GnuplotString(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// The gnuplot program to run, or "" with `why` set.
std::string FindGnuplot(std::string* why) {
  if (const char* env = std::getenv("OSSICLE_GNUPLOT"); env && *env) {
    if (::access(env, X_OK) == 0) return env;
    *why = std::string("OSSICLE_GNUPLOT=") + env + " is not an executable file";
    return "";
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / "gnuplot";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  *why = "gnuplot not found on PATH (Debian: apt-get install gnuplot-nox; scripts/install-deps installs it)";
  return "";
}

nlohmann::json OperatingJson(const OperatingPoint& op) {
  return {{"target_fa_per_hour", op.target_fa_per_hour},
          {"threshold", Finite(op.point.threshold)},
          {"reachable", op.reachable},
          {"false_reject_rate", op.point.false_reject_rate},
          {"false_alarms_per_hour", op.point.false_alarms_per_hour},
          {"misses", op.point.misses},
          {"false_alarms", op.point.false_alarms}};
}

nlohmann::json MetricsJson(const EvaluationResult& r, const ReportFiles& files) {
  nlohmann::json j;
  j["model"] = r.config.model;
  j["model_description"] = r.model_description;
  j["manifest"] = r.config.manifest;
  j["negatives"] = r.config.negatives.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.config.negatives);
  j["scoring"] = std::string(EnumToString(r.scoring));
  j["reference_column"] = r.reference_column;
  j["reference_kind"] = r.reference_kind == ReferenceKind::kLabel ? "label" : "transcript";
  j["threshold"] = r.threshold;
  j["threshold_source"] = r.threshold_source;
  if (!r.transcript_decoder.empty()) j["transcript_decoder"] = r.transcript_decoder;
  j["decoder_metadata"] = r.decoder_json.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(r.decoder_json);
  j["clips"] = static_cast<int64_t>(r.clips.size());
  j["errors"] = r.num_errors;
  j["accuracy"] = r.accuracy;
  if (r.confusion) {
    nlohmann::json pc = nlohmann::json::array();
    for (const ClassMetrics& c : r.per_class) {
      pc.push_back({{"label", c.label},
                    {"support", c.support},
                    {"predicted", c.predicted},
                    {"precision", Optional(c.precision)},
                    {"recall", Optional(c.recall)},
                    {"f1", Optional(c.f1)}});
    }
    j["per_class"] = pc;
    j["confusion"] = {{"labels", r.confusion->labels}, {"counts", r.confusion->counts}};
  }
  auto edits = [](const EditCounts& e) {
    return nlohmann::json{{"substitutions", e.substitutions},
                          {"deletions", e.deletions},
                          {"insertions", e.insertions},
                          {"reference_length", e.reference_length}};
  };
  if (r.word_edits) {
    j["wer"] = ErrorRate(*r.word_edits);
    j["word_edits"] = edits(*r.word_edits);
  }
  if (r.char_edits) {
    j["cer"] = ErrorRate(*r.char_edits);
    j["char_edits"] = edits(*r.char_edits);
  }
  if (r.has_negatives) {
    j["negative_files"] = r.negative_files;
    j["negative_hours"] = r.negative_hours;
    j["negative_errors"] = static_cast<int64_t>(r.negative_errors.size());
    j["false_alarms_at_floor"] = static_cast<int64_t>(r.false_alarms.size());
    j["det_floor_threshold"] = kDetFloorThreshold;
    j["det_method"] = r.det_counted ? "counted" : "events";  // pipeline/evaluation.h
    j["positives"] = static_cast<int64_t>(r.det_input.positive_scores.size());
    if (r.at_1_fa_per_hour) {
      j["frr_at_1_fa_per_hour"] = r.at_1_fa_per_hour->point.false_reject_rate;
      j["threshold_at_1_fa_per_hour"] = Finite(r.at_1_fa_per_hour->point.threshold);
      j["at_1_fa_per_hour"] = OperatingJson(*r.at_1_fa_per_hour);
    }
    if (r.at_target) {
      j["target_fa_per_hour"] = r.at_target->target_fa_per_hour;
      j["calibrated_threshold"] = Finite(r.at_target->point.threshold);
      j["frr_at_target"] = r.at_target->point.false_reject_rate;
      j["at_target"] = OperatingJson(*r.at_target);
    }
    nlohmann::json det = nlohmann::json::array();
    for (const DetPoint& p : r.det) {
      det.push_back({{"threshold", p.threshold}, {"frr", p.false_reject_rate}, {"fa_per_hour", p.false_alarms_per_hour}});
    }
    j["det"] = det;
  }
  j["audio_seconds"] = r.audio_seconds;
  j["wall_seconds"] = r.wall_seconds;
  j["cpu_seconds"] = r.cpu_seconds;
  j["jobs"] = r.config.jobs;
  j["x_real_time"] = r.wall_seconds > 0 ? nlohmann::json(r.audio_seconds / r.wall_seconds) : nlohmann::json(nullptr);
  j["plots"] = files.plots;
  j["plots_skipped"] = files.plots_skipped.empty() ? nlohmann::json(nullptr) : nlohmann::json(files.plots_skipped);
  j["run_dir"] = r.run_dir.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.run_dir);
  j["notes"] = r.notes;
  if (!r.foreign_references.empty()) {
    j["foreign_references"] = r.foreign_references;
    j["foreign_references_as"] =
        r.foreign_references_as.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.foreign_references_as);
  }
  nlohmann::json errors = nlohmann::json::array();
  for (const ClipResult& c : r.clips)
    if (!c.error.empty()) errors.push_back({{"path", c.path}, {"line", c.line}, {"error", c.error}});
  for (const ClipResult& c : r.negative_errors)
    errors.push_back({{"path", c.path}, {"line", c.line}, {"error", c.error}, {"negatives", true}});
  j["error_rows"] = errors;
  j["skip_damaged"] = r.config.skip_damaged;
  nlohmann::json warnings = nlohmann::json::array();
  for (const ClipResult& c : r.audio_warnings) {
    nlohmann::json w = {{"path", c.path}, {"line", c.line}, {"warning", c.warning}, {"left_out", !c.error.empty()}};
    if (c.negatives) w["negatives"] = true;
    warnings.push_back(w);
  }
  j["audio_warnings"] = warnings;
  return j;
}

struct Plotter {
  fs::path dir;
  std::string gnuplot;
  ReportFiles* files;

  // Writes NAME.gp and runs it; on success NAME.png is listed.
  void Run(const std::string& name, const std::string& script) {
    WriteFile(dir / (name + ".gp"), "set terminal pngcairo size 900,640 noenhanced font ',10'\nset output '" + name +
                                         ".png'\n" + script);
    if (gnuplot.empty()) return;
    const std::string cmd = "cd " + ShellQuote(dir.string()) + " && " + ShellQuote(gnuplot) + " " +
                            ShellQuote(name + ".gp") + " >" + ShellQuote(name + ".log") + " 2>&1";
    const int status = std::system(cmd.c_str());
    const bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::exists(dir / (name + ".png"));
    if (ok) {
      files->plots.push_back((dir / (name + ".png")).string());
      std::error_code ec;
      fs::remove(dir / (name + ".log"), ec);
    } else {
      const std::string why = name + ".png: gnuplot failed (see " + (dir / (name + ".log")).string() + ")";
      files->plots_skipped += (files->plots_skipped.empty() ? "" : "; ") + why;
    }
  }
};

std::string LabelTics(const std::vector<std::string>& labels) {
  std::string tics = "(";
  for (size_t i = 0; i < labels.size(); ++i) {
    tics += (i ? ", " : "") + GnuplotString(labels[i]) + " " + std::to_string(i);
  }
  return tics + ")";
}

void Plots(const EvaluationResult& r, const fs::path& dir, ReportFiles& files, const std::vector<LearningCurvePoint>& epochs) {
  std::string why;
  Plotter p{dir, FindGnuplot(&why), &files};
  if (p.gnuplot.empty()) files.plots_skipped = why;

  if (!r.det.empty()) {
    std::string data = "# threshold\tfa_per_hour\tfrr_percent\n";
    for (const DetPoint& d : r.det) {
      data += fmt::format("{:.6f}\t{:.6f}\t{:.4f}\n", d.threshold, d.false_alarms_per_hour, 100.0 * d.false_reject_rate);
    }
    WriteFile(dir / "det.tsv", data);
    std::string script =
        "set title 'DET: false rejects vs false alarms per hour (" + std::to_string(r.det_input.positive_scores.size()) +
        " positives, " + fmt::format("{:.3f}", r.negative_hours) + " h of negatives)'\n"
        "set xlabel 'false alarms per hour'\nset ylabel 'false reject rate (%)'\nset grid\nset key top right\n"
        "set yrange [0:100]\nset xrange [0:*]\n";
    std::string plot = "plot 'det.tsv' using 2:3 with steps lw 2 title 'DET'";
    if (r.at_target) {
      plot += fmt::format(", '-' using 1:2 with points pt 7 ps 1.5 title 'threshold {:.3f} at {:g} FA/h (FRR {:.1f}%)'",
                          r.at_target->point.threshold, r.at_target->target_fa_per_hour,
                          100.0 * r.at_target->point.false_reject_rate);
      plot += fmt::format("\n{:.6f} {:.4f}\ne", r.at_target->point.false_alarms_per_hour,
                          100.0 * r.at_target->point.false_reject_rate);
    }
    p.Run("det", script + plot + "\n");
  }

  if (r.confusion && !r.confusion->labels.empty()) {
    const ConfusionMatrix& m = *r.confusion;
    std::string data;
    // Rows as gnuplot's `matrix` reads them: row i = reference i, column j = prediction j.
    for (size_t i = 0; i < m.labels.size(); ++i) {
      for (size_t j = 0; j < m.labels.size(); ++j) data += (j ? " " : "") + std::to_string(m.counts[i][j]);
      data += "\n";
    }
    WriteFile(dir / "confusion.dat", data);
    const std::string n = std::to_string(m.labels.size() - 1);
    std::string script = "set title 'Confusion matrix (rows: reference, columns: prediction)'\n"
                         "set xlabel 'prediction'\nset ylabel 'reference'\n"
                         "set xrange [-0.5:" + n + ".5]\nset yrange [" + n + ".5:-0.5]\n"
                         "set xtics rotate by 45 right " + LabelTics(m.labels) + "\n"
                         "set ytics " + LabelTics(m.labels) + "\n"
                         "set palette defined (0 'white', 1 '#08306b')\nset cblabel 'clips'\nset size square\n"
                         "plot 'confusion.dat' matrix with image notitle, "
                         "'' matrix using 1:2:($3 > 0 ? sprintf('%d', $3) : '') with labels notitle\n";
    p.Run("confusion", script);
  }

  if (!epochs.empty()) {
    std::string data = "# epoch\ttrain_loss\tdev_loss\ttrain_accuracy\tdev_accuracy\n";
    auto v = [](double x) { return std::isfinite(x) ? fmt::format("{:.6g}", x) : std::string("?"); };
    for (const LearningCurvePoint& e : epochs) {
      data += v(e.epoch) + "\t" + v(e.train_loss) + "\t" + v(e.dev_loss) + "\t" + v(e.train_accuracy) + "\t" +
              v(e.dev_accuracy) + "\n";
    }
    WriteFile(dir / "learning-curves.tsv", data);
    std::string script = "set datafile missing '?'\nset multiplot layout 1,2 title " +
                         GnuplotString("Learning curves: " + r.run_dir) +
                         "\nset xlabel 'epoch'\nset grid\nset ylabel 'loss'\n"
                         "plot 'learning-curves.tsv' using 1:2 with linespoints title 'train', "
                         "'' using 1:3 with linespoints title 'dev'\n"
                         "set ylabel 'accuracy'\nset yrange [0:1]\n"
                         "plot 'learning-curves.tsv' using 1:4 with linespoints title 'train', "
                         "'' using 1:5 with linespoints title 'dev'\nunset multiplot\n";
    p.Run("learning-curves", script);
  }
}

std::string Markdown(const EvaluationResult& r, const ReportFiles& files, const std::vector<LearningCurvePoint>& epochs) {
  std::string md;
  md += "# Evaluation: " + fs::path(r.config.model).filename().string() + " on " +
        fs::path(r.config.manifest).filename().string() + "\n\n";
  md += "- model: `" + r.config.model + "` (" + r.model_description + ")\n";
  md += "- manifest: `" + r.config.manifest + "`, reference column `" + r.reference_column + "` (" +
        r.reference_column_reason + ")\n";
  if (r.reference_kind == ReferenceKind::kTranscript) {
    md += "- scoring: " + std::string(EnumToString(r.scoring)) + " (docs/evaluation.md), transcripts by " +
          r.transcript_decoder + (r.transcript_decoder == "decoder.ctc_beam" ? " (model metadata)" : "") + "\n";
  } else {
    md += "- scoring: " + std::string(EnumToString(r.scoring)) + " (docs/evaluation.md), threshold " +
          fmt::format("{:g}", r.threshold) + " (" + r.threshold_source + ")\n";
  }
  if (!r.decoder_json.empty()) md += "- model decoder metadata: `" + r.decoder_json + "`\n";
  md += fmt::format("- clips: {} scored, {} errors; {:.1f} s of audio in {:.2f} s wall ({:.1f}x real time, {} job{}), "
                    "{:.2f} s CPU\n",
                    static_cast<int64_t>(r.clips.size()) - r.num_errors, r.num_errors, r.audio_seconds, r.wall_seconds,
                    r.wall_seconds > 0 ? r.audio_seconds / r.wall_seconds : 0.0, r.config.jobs,
                    r.config.jobs == 1 ? "" : "s", r.cpu_seconds);
  md += "\n## Results\n\n";
  if (r.reference_kind == ReferenceKind::kLabel) {
    md += "**Accuracy: " + Percent(r.accuracy) + "**" +
          fmt::format(" ({} of {})\n\n", r.confusion->Correct(), r.confusion->Total());
    md += "| class | support | predicted | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|\n";
    for (const ClassMetrics& c : r.per_class) {
      md += fmt::format("| {} | {} | {} | {} | {} | {} |\n", Cell(c.label), c.support, c.predicted,
                        Percent(c.precision), Percent(c.recall), Percent(c.f1));
    }
    md += "\nConfusion matrix (rows: reference, columns: prediction):\n\n| |";
    const ConfusionMatrix& m = *r.confusion;
    for (const std::string& l : m.labels) md += " " + Cell(l) + " |";
    md += "\n|---|";
    for (size_t i = 0; i < m.labels.size(); ++i) md += "---:|";
    md += "\n";
    for (size_t i = 0; i < m.labels.size(); ++i) {
      md += "| **" + Cell(m.labels[i]) + "** |";
      for (size_t j = 0; j < m.labels.size(); ++j) md += " " + std::to_string(m.counts[i][j]) + " |";
      md += "\n";
    }
  } else {
    md += "| metric | value | errors / reference length |\n|---|---:|---:|\n";
    auto row = [&](const char* name, const EditCounts& e) {
      md += fmt::format("| {} | {} | {} (S {}, D {}, I {}) / {} |\n", name, Percent(ErrorRate(e)), e.Errors(),
                        e.substitutions, e.deletions, e.insertions, e.reference_length);
    };
    row("WER", *r.word_edits);
    row("CER", *r.char_edits);
    md += "| exact match | " + Percent(r.accuracy) + " | |\n";
  }
  if (r.has_negatives) {
    md += "\n## False alarms\n\n";
    md += fmt::format("Negatives: `{}`, {} files, {:.3f} h ({} unreadable). {} positive clips. Events found at the "
                      "floor threshold {:g}: {}. {}\n\n",
                      fmt::join(r.config.negatives, "`, `"), r.negative_files, r.negative_hours, r.negative_errors.size(),
                      r.det_input.positive_scores.size(), kDetFloorThreshold, r.false_alarms.size(),
                      r.det_counted ? "False alarms and misses at each threshold are counted by the decoder at that "
                                      "threshold, as `ossicle spot` reports hits."
                                    : "False alarms and misses at each threshold come from these events' scores.");
    auto op_row = [&](const OperatingPoint& op) {
      md += fmt::format("| {:g} | {}{} | {} | {:.2f} |\n", op.target_fa_per_hour, fmt::format("{:.4f}", op.point.threshold),
                        op.reachable ? "" : " (target not reached)", Percent(op.point.false_reject_rate),
                        op.point.false_alarms_per_hour);
    };
    md += "| target FA/h | threshold | false rejects | FA/h measured |\n|---:|---:|---:|---:|\n";
    if (r.at_1_fa_per_hour) op_row(*r.at_1_fa_per_hour);
    if (r.at_target && r.at_target->target_fa_per_hour != 1.0) op_row(*r.at_target);
    if (r.at_target) {
      md += fmt::format("\nCalibrated threshold for {:g} false alarms per hour: **{:.4f}** (set it with "
                        "`--threshold` or the decoder's `threshold`).\n",
                        r.at_target->target_fa_per_hour, r.at_target->point.threshold);
    }
    if (!r.false_alarms.empty()) {
      md += "\nStrongest false alarms:\n\n| file | keyword | start s | end s | score |\n|---|---|---:|---:|---:|\n";
      for (size_t i = 0; i < std::min<size_t>(10, r.false_alarms.size()); ++i) {
        const FalseAlarm& fa = r.false_alarms[i];
        md += fmt::format("| {} | {} | {:.2f} | {:.2f} | {:.3f} |\n", Cell(fa.path), Cell(fa.keyword), fa.start_s,
                          fa.end_s, fa.score);
      }
    }
  }
  md += "\n## Plots\n\n";
  for (const std::string& p : files.plots) {
    const std::string name = fs::path(p).filename().string();
    md += "![" + name + "](" + name + ")\n\n";
  }
  if (!files.plots_skipped.empty()) md += "Plots skipped: " + files.plots_skipped + "\n\n";
  if (epochs.empty()) {
    md += "No learning curves: no training run found (pass `--run-dir` with the run's folder holding metrics.jsonl).\n\n";
  }
  if (!r.notes.empty()) {
    md += "## Notes\n\n";
    for (const std::string& n : r.notes) md += "- " + n + "\n";
    md += "\n";
  }
  const bool any_errors = r.num_errors > 0 || !r.negative_errors.empty();
  if (any_errors) {
    md += "## Errors\n\nThese files were not scored (left out of every figure above):\n\n| file | line | error |\n|---|---:|---|\n";
    for (const ClipResult& c : r.clips)
      if (!c.error.empty()) md += fmt::format("| {} | {} | {} |\n", Cell(c.path), c.line, Cell(c.error));
    for (const ClipResult& c : r.negative_errors)
      md += fmt::format("| {} (negatives) | {} | {} |\n", Cell(c.path), c.line, Cell(c.error));
    md += "\n";
  }
  if (!r.audio_warnings.empty()) {
    md += fmt::format("## Audio warnings\n\nThese files were read with a warning ({}):\n\n| file | line | warning |\n"
                      "|---|---:|---|\n",
                      r.config.skip_damaged ? "left out of every figure, --skip-damaged" : "scored as they decoded");
    for (const ClipResult& c : r.audio_warnings) {
      md += fmt::format("| {}{} | {} | {} |\n", Cell(c.path), c.negatives ? " (negatives)" : "", c.line, Cell(c.warning));
    }
    md += "\n";
  }
  md += "Per-clip results: `clips.tsv`. Numbers: `metrics.json`.\n";
  return md;
}

}  // namespace

std::vector<LearningCurvePoint> ReadTrainingMetrics(const std::string& run_dir) {
  const fs::path path = fs::path(run_dir) / "metrics.jsonl";
  std::ifstream in(path);
  if (!in) throw IoError(path.string() + ": cannot open training metrics");
  std::vector<LearningCurvePoint> out;
  std::string line;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) continue;
    auto num = [&](const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<double>() : nan; };
    out.push_back({num("epoch"), num("train_loss"), num("dev_loss"), num("train_accuracy"), num("dev_accuracy"),
                   num("dev_token_error_rate")});
  }
  return out;
}

ReportFiles WriteEvaluationReport(const EvaluationResult& r, const std::string& out_dir) {
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw IoError(out_dir + ": cannot create the output folder (" + ec.message() + ")");
  ReportFiles files;
  files.report_md = (dir / "report.md").string();
  files.metrics_json = (dir / "metrics.json").string();

  std::string tsv = "path\tline\treference\tprediction\tscore\treference_score\tduration_s\terror\twarning\n";
  for (const ClipResult& c : r.clips) {
    tsv += fmt::format("{}\t{}\t{}\t{}\t{:.6f}\t{}\t{:.4f}\t{}\t{}\n", Field(c.path), c.line, Field(c.reference),
                       Field(c.prediction), c.score, c.reference_score >= 0 ? fmt::format("{:.6f}", c.reference_score) : "",
                       c.duration_s, Field(c.error), Field(c.warning));
  }
  WriteFile(dir / "clips.tsv", tsv);

  std::vector<LearningCurvePoint> epochs;
  if (!r.run_dir.empty()) epochs = ReadTrainingMetrics(r.run_dir);
  Plots(r, dir, files, epochs);
  WriteFile(dir / "metrics.json", MetricsJson(r, files).dump(2) + "\n");
  WriteFile(dir / "report.md", Markdown(r, files, epochs));
  return files;
}

}  // namespace ossicle
