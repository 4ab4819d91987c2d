// ossicle spot INPUTS... — keyword spotting over many audio files: one hit record per keyword found, one
// summary record per file, one error record per file that could not be processed (docs/batch.md).
#include <optional>
#include <string>
#include <vector>

#include "apps/batch-command.h"
#include "apps/commands.h"
#include "features/errors.h"
#include "models/acoustic-model.h"
#include "pipeline/record-writer.h"

namespace ossicle {

CommandRunner AddSpotCommand(CLI::App& app) {
  struct Options {
    BatchCommandOptions batch;
    std::string model;
    std::vector<std::string> keywords;
    std::optional<double> threshold;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "spot", "Keyword spotting over audio files, folders and globs: hit, summary and error records (JSON lines or CSV)");
  AddBatchOptions(*cmd, opt->batch, "batch-keywords.yaml");
  cmd->add_option("--model", opt->model,
                  "Keyword model (.safetensors); replaces the graph's model stage path. A CTC model (a transcriber) "
                  "runs configs/graphs/batch-ctc-keywords.yaml unless --graph is given");
  cmd->add_option("--keywords", opt->keywords,
                  "Keywords to report, comma-separated model labels (default: the graph's list, or every non-filler "
                  "label); for a CTC model the words as text (default: the words of its decoder metadata)")
      ->delimiter(',')->allow_extra_args(false);
  cmd->add_option("--threshold", opt->threshold, "Confidence a hit needs, in (0, 1] (default: the graph's)")
      ->check(CLI::Range(0.0, 1.0));

  return [opt]() {
    // A CTC model has no keyword classes: without --graph it runs the CTC keyword graph, spotting the words
    // given with --keywords or, by default, the words of its decoder metadata (a transcriber's word list, or
    // the keywords and calibrated threshold of decoder.ctc_keywords metadata: CtcModelKeywords).
    // The model is read once: without --graph here for its kind (and then reused for its sample rate in
    // ModelOverrides), with --graph by ModelOverrides after the graph's own checks.
    const CommandModel m = ResolveCommandModel(opt->model, !opt->batch.graph.empty(), opt->keywords, opt->threshold);
    const std::string graph_path =
        BatchGraphPath(opt->batch, m.ctc ? "batch-ctc-keywords.yaml" : "batch-keywords.yaml");
    std::vector<std::string> overrides;
    if (!opt->model.empty() || !m.keywords.empty() || m.threshold) {
      const GraphConfig config = LoadGraphConfig(graph_path);
      if (!opt->model.empty()) {
        const std::vector<std::string> model = ModelOverrides(config, opt->model, m.loaded.get());
        overrides.insert(overrides.end(), model.begin(), model.end());
      }
      const std::vector<std::string> keyword = KeywordOverrides(config, m.keywords, m.threshold);
      overrides.insert(overrides.end(), keyword.begin(), keyword.end());
    }
    return RunBatchCommand(opt->batch, graph_path, overrides, kSpotCsvColumns);
  };
}

}  // namespace ossicle
