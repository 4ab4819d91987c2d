// What `ossicle spot` and `ossicle transcribe` share: the batch options (inputs, --graph, --set, --out,
// --format, --jobs, --resume, --progress, --shard, --shard-by, --shard-count) and the run itself — load the graph once, expand the inputs,
// run the graph's per-file entry point on a worker pool, write the records (pipeline/batch-runner.h,
// pipeline/record-writer.h).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/batch-inputs.h"
#include "pipeline/graph-config.h"

namespace ossicle {

class AcousticModel;  // models/acoustic-model.h

struct BatchCommandOptions {
  std::vector<std::string> inputs;     // files, folders, glob patterns
  std::string graph;                   // "" = the command's default graph
  std::vector<std::string> overrides;  // --set stage.key=value, applied after the command's own options
  std::string out;                     // "" = standard output
  std::string format = "jsonl";
  int jobs = 1;
  bool resume = false;
  std::string progress = "auto";
  // Sharding (docs/scale-out.md): "" = every input, "K/N", or "auto" (also --shard-from-env) for a job
  // array's task (pipeline/batch-inputs.h, ShardFromEnvironment).
  std::string shard;
  std::string shard_by;                 // "" (= "order") or "order" / "hash"
  std::optional<int64_t> shard_count;   // N for --shard auto (required for a Kubernetes indexed Job)
};

// The shard the options ask for, or nullopt for every input. ConfigError naming the option or the
// environment variable when they cannot give one.
std::optional<Shard> BatchShard(const BatchCommandOptions& opt);

// Registers the shared options on `cmd`; `default_graph` is the file name under configs/graphs/.
void AddBatchOptions(CLI::App& cmd, BatchCommandOptions& opt, const std::string& default_graph);

// The graph to run: `opt.graph`, or `default_graph` found by FindGraphFile.
std::string BatchGraphPath(const BatchCommandOptions& opt, const std::string& default_graph);

// configs/graphs/NAME from, in order: $OSSICLE_CONFIG_DIR, <executable's folder>/../share/ossicle/configs,
// the source tree the binary was built from. ConfigError listing where it looked when none has it.
std::string FindGraphFile(const std::string& name);

// The name of the one stage whose type satisfies `matches`, for an option that sets it (`option`, e.g.
// "--model"). ConfigError when the graph has none, or several.
std::string StageFor(const GraphConfig& graph, std::string_view option, std::string_view what,
                     bool (*matches)(std::string_view type));

// True for stage types "model.*" (the stage --model sets).
bool IsModelStage(std::string_view type);

// The overrides that make `graph` run the model file `model_path`: the model stage's path, and the source
// stage's sample_rate_hz set to the rate of the model's features, so a model trained at 8 kHz reads audio
// at 8 kHz without further options. Overrides given later (--set) still win. Reads the model file
// (ModelFormatError / IoError name it) unless `loaded` is that file already loaded; ConfigError when the
// graph has not exactly one model and one source.
std::vector<std::string> ModelOverrides(const GraphConfig& graph, const std::string& model_path,
                                        const AcousticModel* loaded = nullptr);

// The overrides of --keywords (the keyword decoder stage's `keywords`, comma-joined) and --threshold (its
// `threshold`); none when neither is given. ConfigError when the graph has not exactly one keyword decoder
// (a `decoder.*keyword*` stage) and one is needed.
std::vector<std::string> KeywordOverrides(const GraphConfig& graph, const std::vector<std::string>& keywords,
                                          std::optional<double> threshold);

// What a CTC model (first label "<blank>") spots when `ossicle spot` or `ossicle listen` runs it without
// --graph: the keywords given (--keywords), else the words of the model's decoder metadata (the "words" of
// decoder.ctc_beam, the comma-separated "keywords" of decoder.ctc_keywords); the threshold given
// (--threshold), else the "threshold" of decoder.ctc_keywords metadata (a calibrated digit or keyword list,
// e.g. models/pretrained/digits.safetensors), else none (the graph's). ConfigError naming --keywords and
// the model when there are no keywords at all.
struct CtcKeywordChoice {
  std::vector<std::string> keywords;
  std::optional<double> threshold;
};
CtcKeywordChoice CtcModelKeywords(const std::string& model_path, const std::vector<std::string>& keywords,
                                  std::optional<double> threshold);

// True when `model` is a CTC model (its first label is "<blank>").
bool IsCtcModel(const AcousticModel& model);

// The --model of `ossicle spot` / `ossicle listen` before their graph is chosen: without --graph
// (`graph_given` false) the file is loaded once (`loaded`, reused by ModelOverrides) and, for a CTC model
// (`ctc`: the command then runs its CTC keyword graph), the keywords and threshold come from
// CtcModelKeywords; otherwise `keywords` and `threshold` are the given ones and nothing is loaded.
struct CommandModel {
  std::shared_ptr<const AcousticModel> loaded;
  bool ctc = false;
  std::vector<std::string> keywords;
  std::optional<double> threshold;
};
CommandModel ResolveCommandModel(const std::string& model_path, bool graph_given,
                                 const std::vector<std::string>& keywords, std::optional<double> threshold);

// Loads the graph with `command_overrides` then opt.overrides, runs it over the inputs and writes the
// records with `csv_columns` for --format csv. Returns the exit code: 0, or that of the first error record
// in the output (docs/errors.md).
int RunBatchCommand(const BatchCommandOptions& opt, const std::string& graph_path,
                    const std::vector<std::string>& command_overrides, const std::vector<std::string>& csv_columns);

}  // namespace ossicle
