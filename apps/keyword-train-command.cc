// ossicle keyword-train KEYWORD --out MODEL — a keyword spotter from the keyword's spelling alone.
//
// 1. Plans the data (pipeline/keyword-recipe.h): synthetic positives from every speech engine, synthetic
//    sound-alikes and other words, real negative speech split into a training and a held-out part.
// 2. Writes the experiment it runs (WORK/experiment.yaml, `ossicle train` can run it again) and trains it.
// 3. Calibrates the decoder threshold on the held-out negatives for --target-fa-per-hour
//    (pipeline/keyword-calibration.h) and writes it into the model's "decoder" metadata, so `ossicle spot`
//    and the graphs use it unless they set a threshold themselves.
// 4. With --measure MANIFEST (a manifest with a `keyword` or `label` column), reports the miss rate on the
//    entries of this keyword at the calibrated threshold. WORK/calibration.json holds the DET curve.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "features/cmvn.h"
#include "features/errors.h"
#include "models/acoustic-model.h"
#include "models/kws-decoder.h"
#include "models/model-ensemble.h"
#include "pipeline/config-yaml.h"
#include "pipeline/experiment-config.h"
#include "pipeline/keyword-calibration.h"
#include "pipeline/keyword-recipe.h"
#include "pipeline/manifest.h"
#include "pipeline/stages/model-decoder-defaults.h"
#include "pipeline/stop-signal.h"
#include "pipeline/trainer.h"

namespace ossicle {

namespace {

struct KeywordTrainOptions {
  std::string keyword;
  std::string out;
  std::string config;
  std::string negatives;
  std::vector<std::string> extra_negatives;
  std::optional<double> target_fa_per_hour;
  std::string work_dir;
  std::string measure;
  std::vector<std::string> recipe_overrides;
  std::vector<std::string> overrides;
  bool overwrite = false;
  std::string calibrate;  // a trained model: calibrate it only (no training)
  std::optional<int64_t> max_steps;
  std::optional<int> epochs;
};

// Paths of the entries of `manifest` whose keyword (or label) column names `keyword`.
std::vector<std::string> KeywordEntries(const std::string& manifest, const std::string& keyword) {
  std::ifstream in(manifest);
  if (!in) throw IoError(manifest + ": cannot open the --measure manifest");
  std::string header;
  std::getline(in, header);
  ManifestColumns columns;
  columns.label = header.find("keyword") != std::string::npos ? "keyword" : "label";
  std::vector<std::string> paths;
  for (const ManifestEntry& e : ReadManifest(manifest, columns)) {
    if (KeywordLetters(e.label) == KeywordLetters(keyword)) paths.push_back(e.audio_path);
  }
  if (paths.empty()) {
    throw ConfigError(manifest + ": no entry has " + columns.label + " '" + keyword + "'; nothing to measure");
  }
  return paths;
}

std::vector<std::string> Paths(const std::vector<NegativeClip>& clips) {
  std::vector<std::string> out;
  for (const auto& c : clips) out.push_back(c.path);
  return out;
}

// Trains the experiment; returns the model path ("" when interrupted).
std::string Train(const std::string& experiment_path, const KeywordTrainOptions& opt) {
  const ExperimentConfig config = LoadExperimentConfig(experiment_path, opt.overrides);
  TrainerOptions topt;
  topt.overwrite = opt.overwrite;
  topt.log = [](std::string_view line) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  };
  topt.on_step = [&](const StepProgress& p) {
    if (p.step % std::max<int64_t>(1, config.training.log_every_steps) == 0) {
      fmt::print("epoch {}/{}  {}/{}  step {}/{}  loss {:.4f}\n", p.epoch, p.num_epochs, p.batch, p.num_batches,
                 p.step, p.total_steps, p.loss);
      std::fflush(stdout);
    }
  };
  topt.on_epoch = [&](const EpochMetrics& m) {
    fmt::print("epoch {}: train loss {:.4f} acc {:.4f}, {:.0f} frames/s, {:.1f} s\n", m.epoch, m.train_loss,
               m.train_accuracy, m.frames_per_s, m.seconds);
    std::fflush(stdout);
  };
  ScopedStopSignals signals;
  topt.should_stop = [] { return StopRequested(); };
  Trainer trainer(config, topt);
  fmt::print("training: {} examples ({:.1f} min), {} steps planned\n", trainer.Data().train.Size(),
             trainer.Data().train.TotalDurationSeconds() / 60.0, trainer.TotalSteps());
  std::fflush(stdout);
  const TrainResult r = trainer.Run();
  if (r.stop_reason == "interrupted") {
    fmt::print("interrupted after {} steps; checkpoint: {}\n", r.step, r.checkpoint_path);
    return "";
  }
  return r.model_path;
}


// Plans the recipe's data into `work` (the negative manifests and work/experiment.yaml, which `ossicle train`
// can run again) and prints the plan; with train_here it also synthesises the training clips.
KeywordDataPlan PrepareRun(const KeywordRecipeConfig& recipe, const std::string& work, const KeywordTrainOptions& opt,
                           bool train_here) {
  const KeywordDataPlan plan = PlanKeywordData(recipe);
  WriteKeywordData(plan, work);
  const std::string experiment_path = (std::filesystem::path(work) / "experiment.yaml").string();
  {
    std::ofstream out(experiment_path);
    out << KeywordExperimentYaml(recipe, plan, work);
    if (!out) throw IoError(experiment_path + ": cannot write the experiment");
  }
  // A features_file replaces the recipe's whole feature configuration, CMVN included; without CMVN a model
  // trained on padded synthetic clips missed every real recording (docs/keywords.md).
  if (!recipe.features_file.empty() &&
      LoadExperimentConfig(experiment_path, opt.overrides).features.cmvn.mode == CmvnMode::kNone) {
    fmt::print(stderr,
               "warning: features_file {}: no CMVN (cmvn.mode none); the recipe's own features use "
               "`cmvn: {{mode: utterance}}`, without which a keyword model missed all the real recordings it was "
               "measured on (docs/keywords.md)\n",
               recipe.features_file);
  }
  std::string alikes;
  for (size_t i = 0; i < plan.sound_alikes.size(); ++i) alikes += (i ? ", " : "") + plan.sound_alikes[i];
  fmt::print("keyword '{}' (label {}): {} synthetic positives; {} sound-alikes x {} ({}); {} other words x {}\n",
             recipe.keyword, KeywordLabel(recipe.keyword), plan.PositiveClips(), plan.sound_alikes.size(),
             plan.examples_per_text, alikes, plan.other_words.size(), plan.examples_per_text);
  fmt::print("negatives: {} clips ({:.1f} min) for training, {} clips ({:.1f} min) held out for calibration{}\n",
             plan.negatives.train.size() + plan.extra.train.size(),
             (plan.negatives.TrainSeconds() + plan.extra.TrainSeconds()) / 60.0, plan.negatives.heldout.size(),
             plan.negatives.HeldoutSeconds() / 60.0,
             plan.negatives.dropped + plan.extra.dropped > 0
                 ? fmt::format("; {} entries naming the keyword dropped", plan.negatives.dropped + plan.extra.dropped)
                 : std::string());
  std::fflush(stdout);
  if (train_here) {
    const int64_t clips = WriteSyntheticClips(recipe, plan, work, 2);
    fmt::print("synthesised {} clips (padded with silence and a noise floor) into {}/synthetic\n", clips, work);
  }
  fmt::print("experiment: {}\n", experiment_path);
  std::fflush(stdout);
  return plan;
}

int RunKeywordTrain(const KeywordTrainOptions& opt) {
  KeywordRecipeConfig recipe;
  if (!opt.config.empty() || !opt.recipe_overrides.empty()) {
    // --recipe-set also works without --config: on top of the recipe's defaults (paths relative to here).
    YamlSource source{"", std::filesystem::current_path()};
    YAML::Node root = opt.config.empty() ? YAML::Node(YAML::NodeType::Map) : LoadYamlFile(opt.config, source);
    for (const std::string& o : opt.recipe_overrides) ApplyOverride(root, o);
    ReadConfig(root, recipe, source, "");
  }
  if (!opt.keyword.empty()) recipe.keyword = opt.keyword;
  if (!opt.negatives.empty()) recipe.negatives = std::filesystem::absolute(opt.negatives).string();
  for (const auto& m : opt.extra_negatives) recipe.extra_negatives.push_back(std::filesystem::absolute(m).string());
  if (opt.target_fa_per_hour) recipe.target_fa_per_hour = *opt.target_fa_per_hour;
  if (opt.max_steps) recipe.max_steps = *opt.max_steps;
  if (opt.epochs) recipe.epochs = *opt.epochs;
  if (recipe.keyword.empty()) throw ConfigError("no keyword: give it as the first argument or as `keyword:` in --config");
  recipe.Validate();

  const std::string label = KeywordLabel(recipe.keyword);
  const std::string work = opt.work_dir.empty() ? "runs/keyword-" + label : opt.work_dir;
  const bool train = opt.calibrate.empty();
  // With members > 1 the top folder holds the plan (its held-out negatives calibrate the ensemble) and every
  // member is planned, synthesised and trained in its own folder, seed-<seed>.
  const bool ensemble = train && recipe.members > 1;
  const KeywordDataPlan plan = PrepareRun(recipe, work, opt, /*train_here=*/train && !ensemble);

  std::string model_path = opt.calibrate;
  if (train && !ensemble) {
    model_path = Train((std::filesystem::path(work) / "experiment.yaml").string(), opt);
  } else if (ensemble) {
    std::vector<EnsembleMember> members;
    for (int k = 0; k < recipe.members; ++k) {
      KeywordRecipeConfig member = recipe;
      member.seed = recipe.seed + static_cast<uint64_t>(k);
      member.members = 1;
      const std::string dir = (std::filesystem::path(work) / ("seed-" + std::to_string(member.seed))).string();
      fmt::print("member {} of {}: seed {} in {}\n", k + 1, recipe.members, member.seed, dir);
      std::fflush(stdout);
      PrepareRun(member, dir, opt, /*train_here=*/true);
      const std::string path = Train((std::filesystem::path(dir) / "experiment.yaml").string(), opt);
      if (path.empty()) return kExitOk;  // interrupted
      members.push_back({path, AcousticModel::Load(path)});
    }
    model_path = (std::filesystem::path(work) / "ensemble.safetensors").string();
    EnsembleModels(members)->Save(model_path);
    fmt::print("ensemble of {} models (the mean of their probabilities): {}\n", members.size(), model_path);
  }
  if (model_path.empty()) return kExitOk;  // interrupted; the checkpoint allows --resume through `ossicle train`

  // Calibration.
  auto model = AcousticModel::Load(model_path)->MutableCopy();
  if (model->Labels().empty() || model->Labels()[0] != label) {
    throw ConfigError(model_path + ": the model's first label is '" + (model->Labels().empty() ? "" : model->Labels()[0]) +
                      "'; expected the keyword label '" + label + "'");
  }
  const double shift_s = model->Features().frame.frame_shift_ms / 1000.0;
  KwsDecoderConfig decoder;
  decoder.keywords = label;
  decoder.smoothing_ms = KeywordSmoothingMs(recipe);
  nlohmann::json report = {{"keyword", recipe.keyword}, {"label", label},
                           {"target_fa_per_hour", recipe.target_fa_per_hour}, {"smoothing_ms", decoder.smoothing_ms}};
  std::vector<MatrixF> positives;
  std::vector<std::string> positive_warnings;  // per positive: the reader's warning, "" for a clean file
  if (!opt.measure.empty()) {
    const auto paths = KeywordEntries(opt.measure, recipe.keyword);
    positives = FilesLogProbs(*model, paths, recipe.num_threads, &positive_warnings);
    report["measure_manifest"] = opt.measure;
    report["positives"] = paths.size();
    nlohmann::json warned = nlohmann::json::array();
    for (const std::string& w : positive_warnings)
      if (!w.empty()) warned.push_back(w);
    if (!warned.empty()) report["measure_warnings"] = warned;
  }
  // With damaged or truncated recordings among the measured ones: the misses among the others too (a
  // recording whose keyword lost frames is no fair test of the model).
  auto report_clean_misses = [&](double at_threshold) {
    const int64_t warned = std::count_if(positive_warnings.begin(), positive_warnings.end(),
                                         [](const std::string& w) { return !w.empty(); });
    if (warned == 0) return;
    KwsDecoderConfig c = decoder;
    c.threshold = at_threshold;
    const std::vector<int64_t> hits = HitsPerFile(positives, model->Labels(), shift_s, c, label);
    int64_t clean = 0, clean_misses = 0, warned_misses = 0;
    for (size_t i = 0; i < hits.size(); ++i) {
      if (positive_warnings[i].empty()) {
        ++clean;
        clean_misses += hits[i] == 0 ? 1 : 0;
      } else {
        warned_misses += hits[i] == 0 ? 1 : 0;
      }
    }
    report["clean_positives"] = clean;
    report["clean_misses"] = clean_misses;
    report["clean_miss_rate"] = clean > 0 ? static_cast<double>(clean_misses) / static_cast<double>(clean) : 0.0;
    fmt::print("  {} of them were read with a warning (damaged or truncated audio, e.g. {}); {} of those missed; "
               "the other {}: {} missed ({:.1f}% misses)\n",
               warned, *std::find_if(positive_warnings.begin(), positive_warnings.end(),
                                     [](const std::string& w) { return !w.empty(); }),
               warned_misses, clean, clean_misses,
               clean > 0 ? 100.0 * static_cast<double>(clean_misses) / static_cast<double>(clean) : 0.0);
  };
  double threshold = decoder.threshold;
  if (!plan.negatives.heldout.empty()) {
    const double hours = plan.negatives.HeldoutSeconds() / 3600.0;
    const auto negatives = FilesLogProbs(*model, Paths(plan.negatives.heldout), recipe.num_threads);
    const auto curve = RefinedKeywordDetCurve(negatives, hours, positives, model->Labels(), shift_s, decoder, label,
                                              recipe.target_fa_per_hour);
    const KeywordDetPoint op = ThresholdForFaRate(curve, recipe.target_fa_per_hour);
    threshold = op.threshold;
    report["heldout_negative_hours"] = hours;
    report["threshold"] = op.threshold;
    report["false_alarms"] = op.false_alarms;
    report["fa_per_hour"] = op.fa_per_hour;
    if (!positives.empty()) {
      report["misses"] = op.misses;
      report["miss_rate"] = op.miss_rate;
    }
    nlohmann::json det = nlohmann::json::array();
    for (const KeywordDetPoint& p : curve) {
      det.push_back({{"threshold", p.threshold}, {"false_alarms", p.false_alarms}, {"fa_per_hour", p.fa_per_hour},
                     {"misses", p.misses}, {"miss_rate", p.miss_rate}});
    }
    report["det"] = det;
    fmt::print("calibrated threshold {:.4f}: {} false alarms in {:.1f} min of held-out speech ({:.2f}/h; target "
               "{:.2f}/h){}\n",
               op.threshold, op.false_alarms, hours * 60.0, op.fa_per_hour, recipe.target_fa_per_hour,
               op.fa_per_hour > recipe.target_fa_per_hour ? " -- target not reached" : "");
    if (!positives.empty()) {
      fmt::print("measured on {}: {} of {} '{}' clips missed ({:.1f}% misses) at that threshold\n", opt.measure,
                 op.misses, positives.size(), recipe.keyword, 100.0 * op.miss_rate);
      report_clean_misses(op.threshold);
    }
  } else {
    fmt::print("no held-out negatives (--negatives not given): threshold left at {:.2f}, not calibrated\n",
               threshold);
    if (!positives.empty()) {
      KwsDecoderConfig c = decoder;
      int64_t misses = 0;
      for (int64_t h : HitsPerFile(positives, model->Labels(), shift_s, c, label)) misses += h == 0 ? 1 : 0;
      report["misses"] = misses;
      report["miss_rate"] = static_cast<double>(misses) / static_cast<double>(positives.size());
      fmt::print("measured on {}: {} of {} clips missed at threshold {:.2f}\n", opt.measure, misses,
                 positives.size(), threshold);
      report_clean_misses(threshold);
    }
  }

  nlohmann::json decoder_json = {{"type", "decoder.keywords"}, {"keywords", label}, {"threshold", threshold}};
  if (decoder.smoothing_ms != KwsDecoderConfig{}.smoothing_ms) decoder_json["smoothing_ms"] = decoder.smoothing_ms;
  nlohmann::json provenance = nlohmann::json::parse(model->ProvenanceJson(), nullptr, false);
  if (!provenance.is_object()) provenance = nlohmann::json::object();
  nlohmann::json calibration = report;
  calibration.erase("det");
  provenance["keyword_train"] = calibration;
  model->SetProvenance(provenance.dump());
  const std::filesystem::path out_path(opt.out);
  if (out_path.has_parent_path()) std::filesystem::create_directories(out_path.parent_path());
  SaveModelWithDecoderJson(*model, opt.out, decoder_json.dump());
  const std::string report_path = (std::filesystem::path(work) / "calibration.json").string();
  std::ofstream rep(report_path);
  rep << report.dump(1) << "\n";
  if (!rep) throw IoError(report_path + ": cannot write the calibration report");
  fmt::print("model: {} (decoder threshold {:.4f}); calibration report: {}\n", opt.out, threshold, report_path);
  return kExitOk;
}

}  // namespace

CommandRunner AddKeywordTrainCommand(CLI::App& app) {
  auto opt = std::make_shared<KeywordTrainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "keyword-train", "Train a keyword spotter from the keyword's spelling (synthetic speech), calibrated for a "
                       "false-alarm rate (docs/keywords.md)");
  cmd->add_option("keyword", opt->keyword, "The keyword, e.g. \"jarvis\" (or `keyword:` in --config)");
  cmd->add_option("--out", opt->out, "Model file to write")->required();
  cmd->add_option("--config", opt->config, "Recipe YAML (configs/experiments/keyword-*.yaml); options override it");
  cmd->add_option("--negatives", opt->negatives,
                  "Manifest of speech without the keyword: split into training and held-out (calibration) parts");
  cmd->add_option("--extra-negatives", opt->extra_negatives,
                  "Further manifests of speech without the keyword, training only (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--target-fa-per-hour", opt->target_fa_per_hour,
                  "False alarms per hour of held-out speech the threshold is set for (default 1)");
  cmd->add_option("--work-dir", opt->work_dir, "Folder for the plan, experiment, checkpoints (runs/keyword-<label>)");
  cmd->add_option("--measure", opt->measure,
                  "Manifest with a keyword or label column: report misses on this keyword's entries");
  cmd->add_option("--recipe-set", opt->recipe_overrides,
                  "Override a recipe key of --config: --recipe-set epochs=4 (repeatable, one KEY=VALUE each)")
      ->allow_extra_args(false);
  AddSetOption(*cmd, opt->overrides, "Override a key of the generated experiment: --set training.dropout=0.2");
  cmd->add_option("--epochs", opt->epochs, "Training epochs (recipe default 8)");
  cmd->add_option("--max-steps", opt->max_steps, "Stop training after this many steps (0 = no cap)");
  cmd->add_flag("--overwrite", opt->overwrite, "Replace an earlier run's results in the work folder");
  cmd->add_option("--calibrate", opt->calibrate,
                  "Calibrate (and --measure) this trained model of the recipe instead of training one");
  return [opt]() { return RunKeywordTrain(*opt); };
}

}  // namespace ossicle
