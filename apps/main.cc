// ossicle — offline keyword spotting and small-vocabulary transcription.
// The single try/catch of the program: library errors become "error: ..." and a documented exit code.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <map>

#include "apps/commands.h"
#include "apps/exit-codes.h"

int main(int argc, char** argv) {
  CLI::App app{"ossicle: offline keyword spotting and small-vocabulary transcription", "ossicle"};
  app.set_version_flag("--version", std::string("ossicle ") + OSSICLE_VERSION);
  app.require_subcommand(1);
  app.get_formatter()->column_width(36);

  std::map<CLI::App*, ossicle::CommandRunner> runners;
  auto add = [&](ossicle::CommandRunner (*adder)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    ossicle::CommandRunner run = adder(app);
    runners[app.get_subcommands({})[before]] = std::move(run);
  };
  add(ossicle::AddInfoCommand);
  add(ossicle::AddFeaturesCommand);
  add(ossicle::AddCmvnStatsCommand);
  add(ossicle::AddConfigDocsCommand);
  add(ossicle::AddModelCommand);
  add(ossicle::AddRunCommand);
  add(ossicle::AddSpotCommand);
  add(ossicle::AddTranscribeCommand);
  add(ossicle::AddMergeCommand);
  add(ossicle::AddTrainCommand);
  add(ossicle::AddKeywordTrainCommand);
  add(ossicle::AddEvalCommand);
  add(ossicle::AddPhrasesCommand);
  add(ossicle::AddDevicesCommand);
  add(ossicle::AddListenCommand);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (code 0) or the parse error
    return code == 0 ? ossicle::kExitOk : ossicle::kExitUsage;
  }
  try {
    for (auto& [sub, run] : runners) {
      if (sub->parsed()) return run();
    }
    return ossicle::kExitUsage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return ossicle::ExitCodeFor(e);
  }
}
