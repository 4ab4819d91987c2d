#include "apps/batch-command.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "features/errors.h"
#include "models/acoustic-model.h"
#include "pipeline/batch-inputs.h"
#include "pipeline/batch-runner.h"
#include "pipeline/graph-runner.h"
#include "pipeline/record-writer.h"
#include "pipeline/stages/model-decoder-defaults.h"

namespace ossicle {

namespace fs = std::filesystem;

void AddBatchOptions(CLI::App& cmd, BatchCommandOptions& opt, const std::string& default_graph) {
  cmd.add_option("inputs", opt.inputs,
                 "Audio files, folders (searched recursively for audio files) and glob patterns ('corpus/**/*.wav')")
      ->required();
  cmd.add_option("--graph", opt.graph, "Processing graph (YAML; default: configs/graphs/" + default_graph + ")");
  AddSetOption(cmd, opt.overrides, "Override one graph option, e.g. --set features.mel.num_mel_bins=80");
  cmd.add_option("--out", opt.out,
                 "Write the records to this file (complete or absent: written to FILE.partial, then renamed); "
                 "default: standard output");
  cmd.add_option("--format", opt.format, "Records as JSON lines or CSV")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();
  cmd.add_option("--jobs,-j", opt.jobs, "Files processed at once (worker threads); the output order stays the input order")
      ->check(CLI::Range(1, kMaxBatchJobs))
      ->capture_default_str();
  cmd.add_flag("--resume", opt.resume,
               "Keep the files already reported in --out (after an interruption, even kill -9) and process the rest")
      ->capture_default_str();
  cmd.add_option("--progress", opt.progress, "Progress bar on standard error: auto = only when it is a terminal")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  CLI::Option* shard =
      cmd.add_option("--shard", opt.shard,
                     "Process only shard K of N of the expanded inputs (K/N, 1 <= K <= N), or 'auto': the task of "
                     "a Slurm job array (SLURM_ARRAY_TASK_ID...) or Kubernetes indexed Job (JOB_COMPLETION_INDEX, "
                     "with --shard-count); join the outputs with `ossicle merge`")
          ->check(CLI::Validator(
              [](std::string& value) -> std::string {
                if (value == "auto") return "";
                try {
                  ParseShard(value);
                } catch (const ConfigError& e) {
                  return e.what();
                }
                return "";
              },
              "K/N|auto"));
  cmd.add_flag_callback(
         "--shard-from-env", [&opt]() { opt.shard = "auto"; }, "Same as --shard auto")
      ->excludes(shard);
  cmd.add_option("--shard-by", opt.shard_by,
                 "How inputs are dealt to shards: order = contiguous blocks of the input list, hash = by a stable "
                 "hash of each path (a file keeps its shard when others are added); default: order")
      ->check(CLI::IsMember({"order", "hash"}));
  cmd.add_option("--shard-count", opt.shard_count,
                 "N for --shard auto: required for a Kubernetes indexed Job (its completions), checked against "
                 "SLURM_ARRAY_TASK_COUNT in a Slurm array")
      ->check(CLI::Range(int64_t{1}, kMaxShards));
}

std::optional<Shard> BatchShard(const BatchCommandOptions& opt) {
  if (opt.shard.empty()) {
    if (!opt.shard_by.empty()) throw ConfigError("--shard-by " + opt.shard_by + " needs --shard K/N or --shard auto");
    if (opt.shard_count) throw ConfigError("--shard-count needs --shard auto");
    return std::nullopt;
  }
  Shard shard;
  if (opt.shard == "auto") {
    shard = ShardFromEnvironment(ProcessEnvironment(), opt.shard_count);
  } else {
    if (opt.shard_count) throw ConfigError("--shard-count is only for --shard auto (--shard " + opt.shard + " gives N)");
    shard = ParseShard(opt.shard);
  }
  shard.by = opt.shard_by == "hash" ? ShardBy::kHash : ShardBy::kOrder;
  return shard;
}

std::string FindGraphFile(const std::string& name) {
  std::vector<fs::path> roots;
  if (const char* dir = std::getenv("OSSICLE_CONFIG_DIR"); dir != nullptr && *dir != '\0') roots.emplace_back(dir);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) roots.push_back(exe.parent_path().parent_path() / "share" / "ossicle" / "configs");
  roots.emplace_back(fs::path(OSSICLE_SOURCE_CONFIG_DIR));
  std::string looked;
  for (const fs::path& root : roots) {
    const fs::path candidate = root / "graphs" / name;
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
    looked += (looked.empty() ? "" : ", ") + candidate.string();
  }
  throw ConfigError("no graph file " + name + " (looked for " + looked +
                    "); give one with --graph FILE or set OSSICLE_CONFIG_DIR");
}

std::string BatchGraphPath(const BatchCommandOptions& opt, const std::string& default_graph) {
  return opt.graph.empty() ? FindGraphFile(default_graph) : opt.graph;
}

std::string StageFor(const GraphConfig& graph, std::string_view option, std::string_view what,
                     bool (*matches)(std::string_view type)) {
  std::vector<std::string> names;
  for (const StageSpec& s : graph.stages) {
    if (matches(s.type)) names.push_back(s.name);
  }
  if (names.size() == 1) return names[0];
  std::string where = graph.source.file.empty() ? std::string("the graph") : graph.source.file;
  if (names.empty()) throw ConfigError(fmt::format("{}: {} has no {} stage to apply it to", option, where, what));
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  throw ConfigError(fmt::format("{}: {} has {} {} stages ({}); choose one with --set NAME.KEY=VALUE", option, where,
                                names.size(), what, list));
}

bool IsModelStage(std::string_view type) { return type.starts_with("model."); }

std::vector<std::string> ModelOverrides(const GraphConfig& graph, const std::string& model_path,
                                        const AcousticModel* loaded) {
  const std::string model_stage = StageFor(graph, "--model", "model", IsModelStage);
  const std::string source_stage =
      StageFor(graph, "--model", "source", [](std::string_view type) { return type.starts_with("source."); });
  const double rate_hz =
      (loaded ? loaded->Features() : AcousticModel::Load(model_path)->Features()).frame.sample_rate_hz;
  return {model_stage + ".path=" + model_path, fmt::format("{}.sample_rate_hz={}", source_stage, rate_hz)};
}

std::vector<std::string> KeywordOverrides(const GraphConfig& graph, const std::vector<std::string>& keywords,
                                          std::optional<double> threshold) {
  auto is_keyword_stage = [](std::string_view type) {
    return type.starts_with("decoder.") && type.find("keyword") != std::string_view::npos;
  };
  std::vector<std::string> overrides;
  if (!keywords.empty()) {
    std::string list;
    for (const std::string& k : keywords) list += (list.empty() ? "" : ",") + k;
    overrides.push_back(StageFor(graph, "--keywords", "keyword decoder", is_keyword_stage) + ".keywords=" + list);
  }
  if (threshold) {
    overrides.push_back(StageFor(graph, "--threshold", "keyword decoder", is_keyword_stage) +
                        fmt::format(".threshold={}", *threshold));
  }
  return overrides;
}

bool IsCtcModel(const AcousticModel& model) { return !model.Labels().empty() && model.Labels()[0] == "<blank>"; }

CtcKeywordChoice CtcModelKeywords(const std::string& model_path, const std::vector<std::string>& keywords,
                                  std::optional<double> threshold) {
  CtcKeywordChoice choice{keywords, threshold};
  // The model's keyword list (decoder.ctc_keywords), else the words of its transcripts (decoder.ctc_beam).
  const std::string metadata = ReadModelDecoderJson(model_path);
  const nlohmann::json spotter = DecoderEntry(metadata, "decoder.ctc_keywords");
  const nlohmann::json beam = DecoderEntry(metadata, "decoder.ctc_beam");
  const std::string where = model_path + ": decoder metadata";
  if (spotter.is_object()) {
    if (choice.keywords.empty() && spotter.contains("keywords")) {
      if (!spotter["keywords"].is_string()) {
        throw ModelFormatError(where + ": \"keywords\" is not a comma-separated string");
      }
      const std::string list = spotter["keywords"].get<std::string>();
      if (!list.empty()) choice.keywords.push_back(list);
    }
    if (!choice.threshold && spotter.contains("threshold")) {
      if (!spotter["threshold"].is_number()) throw ModelFormatError(where + ": \"threshold\" is not a number");
      choice.threshold = spotter["threshold"].get<double>();
    }
  }
  if (choice.keywords.empty() && beam.is_object() && beam.contains("words")) {
    if (!beam["words"].is_array()) throw ModelFormatError(where + ": \"words\" is not a list of words");
    for (const auto& w : beam["words"]) {
      if (!w.is_string()) throw ModelFormatError(where + ": \"words\" holds " + w.dump() + ", not a word");
      choice.keywords.push_back(w.get<std::string>());
    }
  }
  if (choice.keywords.empty()) {
    throw ConfigError("--keywords: " + model_path +
                      " is a CTC model without a word list in its decoder metadata: give the words to spot, "
                      "e.g. --keywords go,stop");
  }
  return choice;
}

CommandModel ResolveCommandModel(const std::string& model_path, bool graph_given,
                                 const std::vector<std::string>& keywords, std::optional<double> threshold) {
  CommandModel m{nullptr, false, keywords, threshold};
  if (model_path.empty() || graph_given) return m;
  m.loaded = AcousticModel::Load(model_path);
  m.ctc = IsCtcModel(*m.loaded);
  if (m.ctc) {
    CtcKeywordChoice choice = CtcModelKeywords(model_path, keywords, threshold);
    m.keywords = std::move(choice.keywords);
    m.threshold = choice.threshold;
  }
  return m;
}

int RunBatchCommand(const BatchCommandOptions& opt, const std::string& graph_path,
                    const std::vector<std::string>& command_overrides, const std::vector<std::string>& csv_columns) {
  // Everything that can be wrong with the configuration fails here, before any output exists.
  std::vector<std::string> overrides = command_overrides;
  overrides.insert(overrides.end(), opt.overrides.begin(), opt.overrides.end());
  const std::shared_ptr<const Graph> graph = Graph::Load(graph_path, overrides);
  if (graph->SourceType() != "source.file") {
    throw ConfigError(graph_path + ": the graph's source is " + graph->SourceType() +
                      "; batch commands need a source.file graph (use `ossicle listen` for live input)");
  }
  const std::optional<Shard> shard = BatchShard(opt);
  std::vector<BatchInput> inputs = ExpandBatchInputs(opt.inputs);
  if (shard) {
    const size_t all = inputs.size();
    inputs = SelectShard(inputs, *shard);
    // Always printed (also to a log file): which part of the inputs this task ran is what a job array's
    // logs must tell.
    fmt::print(stderr, "shard {} by {} ({}): {} of {} input{}\n", shard->Name(),
               shard->by == ShardBy::kHash ? "hash" : "order", shard->origin, inputs.size(), all, all == 1 ? "" : "s");
  }

  RecordWriterOptions writer_options;
  writer_options.path = opt.out;
  writer_options.format = *EnumFromString<RecordFormat>(opt.format);  // CLI11 checked the spelling
  writer_options.csv_columns = csv_columns;
  // A sharded run's summary records say which shard made them ("shard":"2/4"; a last CSV column).
  const std::string shard_name = shard ? shard->Name() : "";
  if (shard) writer_options.csv_columns.push_back("shard");
  writer_options.resume = opt.resume;
  RecordWriter writer(writer_options);
  if (opt.resume && !writer.Resumed().source.empty()) {
    const ResumeInfo& r = writer.Resumed();
    std::string dropped;
    if (r.dropped_records > 0 || r.dropped_lines > 0) {
      dropped = fmt::format(" (dropped {} record{} of unfinished files and {} incomplete line{})", r.dropped_records,
                            r.dropped_records == 1 ? "" : "s", r.dropped_lines, r.dropped_lines == 1 ? "" : "s");
    }
    fmt::print(stderr, "resuming {}: {} file{} already reported{}\n", r.source, r.complete_files,
               r.complete_files == 1 ? "" : "s", dropped);
  }

  BatchRunnerConfig config;
  config.jobs = opt.jobs;
  config.progress = *EnumFromString<ProgressMode>(opt.progress);
  if (shard) config.terminal_fields["shard"] = shard_name;
  auto make_job = [graph]() -> BatchJob {
    // Graph::RunFile is thread-safe: the workers share the graph (and its immutable model).
    return [graph](const std::string& file, RecordSink& sink) {
      graph->RunFile(file, [&sink](const Record& record) { sink.Add(record); });
    };
  };
  const BatchResult result =
      RunBatch(inputs, make_job, writer, config, [](const std::exception& e) { return static_cast<int>(ExitCodeFor(e)); });
  writer.Finish();
  if (config.progress == ProgressMode::kAlways ||
      (config.progress == ProgressMode::kAuto && ::isatty(STDERR_FILENO) == 1)) {
    fmt::print(stderr, "{} file{}: {} processed, {} failed, {} already reported{}\n", result.inputs,
               result.inputs == 1 ? "" : "s", result.processed, result.failed, result.skipped,
               opt.out.empty() ? "" : " -> " + opt.out);
  }
  return result.exit_code;
}

}  // namespace ossicle
