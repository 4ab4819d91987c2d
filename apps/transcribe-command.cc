// ossicle transcribe INPUTS... — CTC transcription of many audio files: one transcript record (text,
// per-token times, confidence) and one summary record per file, one error record per file that could not
// be processed (docs/batch.md).
#include <string>
#include <vector>

#include "apps/batch-command.h"
#include "apps/commands.h"
#include "pipeline/record-writer.h"

namespace ossicle {

CommandRunner AddTranscribeCommand(CLI::App& app) {
  struct Options {
    BatchCommandOptions batch;
    std::string model;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "transcribe",
      "Transcribe audio files, folders and globs with a CTC model: transcript (text, token times, confidence), "
      "summary and error records (JSON lines or CSV)");
  AddBatchOptions(*cmd, opt->batch, "batch-transcribe.yaml");
  cmd->add_option("--model", opt->model, "CTC model (.safetensors); replaces the graph's model stage path");

  return [opt]() {
    const std::string graph_path = BatchGraphPath(opt->batch, "batch-transcribe.yaml");
    std::vector<std::string> overrides;
    if (!opt->model.empty()) {
      overrides = ModelOverrides(LoadGraphConfig(graph_path), opt->model);
    }
    return RunBatchCommand(opt->batch, graph_path, overrides, kTranscribeCsvColumns);
  };
}

}  // namespace ossicle
