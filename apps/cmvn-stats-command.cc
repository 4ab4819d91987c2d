// ossicle cmvn-stats FILE... --out stats.json — global CMVN statistics of a data set's features, for
// `cmvn: {mode: global, stats_file: stats.json}`.
#include <fmt/core.h>

#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "apps/feature-options.h"
#include "features/cmvn.h"
#include "features/errors.h"

namespace ossicle {

CommandRunner AddCmvnStatsCommand(CLI::App& app) {
  struct Options {
    std::vector<std::string> files;
    FeatureOptions features;
    std::string out;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "cmvn-stats", "Accumulate global CMVN statistics (mean, variance per dimension) over audio files");
  cmd->add_option("files", opt->files, "Audio files of the data set")->required();
  AddFeatureOptions(*cmd, opt->features);
  cmd->add_option("--out", opt->out, "Statistics file to write (JSON)")->required();

  return [opt]() {
    // Statistics describe the features before normalisation and deltas, whatever the config says.
    FeatureConfig config = BuildFeatureConfig(opt->features);
    config.cmvn = CmvnConfig{};
    config.deltas = DeltaConfig{};
    CmvnStats stats(config.Dim());
    int status = kExitOk;
    int used = 0;
    for (const std::string& path : opt->files) {
      try {
        CmvnStats file_stats(config.Dim());  // merged only when the whole file succeeded
        StreamFileFeatures(path, config, opt->features.channel, [&](std::span<const float> rows) {
          for (size_t i = 0; i < rows.size(); i += static_cast<size_t>(config.Dim())) {
            file_stats.Add(rows.subspan(i, static_cast<size_t>(config.Dim())));
          }
        });
        stats.Merge(file_stats);
        ++used;
      } catch (const Error& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        if (status == kExitOk) status = ExitCodeFor(e);
      }
    }
    if (stats.Count() <= 0) throw ConfigError("cmvn-stats: no frames from any input; nothing written");
    stats.Save(opt->out);
    fmt::print("{}: {} frames from {} of {} files, dim {}\n", opt->out, static_cast<int64_t>(stats.Count()), used,
               opt->files.size(), stats.Dim());
    return status;
  };
}

}  // namespace ossicle
