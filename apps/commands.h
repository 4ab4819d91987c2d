// Subcommands of `ossicle`. Each Add...Command registers its options on the CLI11 app and returns the
// function that runs it (returning the exit code). They stay thin: parse, call the libraries, print.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace ossicle {

using CommandRunner = std::function<int()>;

// Registers a repeatable `--set KEY=VALUE` option that takes exactly one value per occurrence, so arguments
// after it stay positionals: `spot --set a=1 in.wav` sets a=1 and reads in.wav (CLI11's default for a vector
// option would swallow in.wav as a second override).
inline CLI::Option* AddSetOption(CLI::App& cmd, std::vector<std::string>& overrides, const std::string& help) {
  return cmd.add_option("--set", overrides, help + " (repeatable, one KEY=VALUE each)")->allow_extra_args(false);
}

CommandRunner AddInfoCommand(CLI::App& app);
CommandRunner AddFeaturesCommand(CLI::App& app);
CommandRunner AddCmvnStatsCommand(CLI::App& app);
CommandRunner AddConfigDocsCommand(CLI::App& app);
CommandRunner AddModelCommand(CLI::App& app);
CommandRunner AddRunCommand(CLI::App& app);
CommandRunner AddSpotCommand(CLI::App& app);
CommandRunner AddTranscribeCommand(CLI::App& app);
CommandRunner AddMergeCommand(CLI::App& app);
CommandRunner AddTrainCommand(CLI::App& app);
CommandRunner AddKeywordTrainCommand(CLI::App& app);
CommandRunner AddEvalCommand(CLI::App& app);
CommandRunner AddDevicesCommand(CLI::App& app);
CommandRunner AddListenCommand(CLI::App& app);
CommandRunner AddPhrasesCommand(CLI::App& app);

}  // namespace ossicle
