// ossicle features FILE... — compute features and write them as .npy, or print a per-file summary.
#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "apps/feature-options.h"
#include "features/errors.h"
#include "pipeline/config-yaml.h"
#include "pipeline/npy-file.h"

namespace ossicle {

CommandRunner AddFeaturesCommand(CLI::App& app) {
  struct Options {
    std::vector<std::string> files;
    FeatureOptions features;
    std::string out;
    std::string out_dir;
    bool print_config = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "features", "Compute log-mel filterbank or MFCC features; write .npy [frames, dims] float32 or print a summary");
  cmd->add_option("files", opt->files, "Audio files")->required();
  AddFeatureOptions(*cmd, opt->features);
  auto* out = cmd->add_option("--out", opt->out, "Output .npy (one input file only)");
  auto* out_dir = cmd->add_option("--out-dir", opt->out_dir, "Write DIR/<input name>.npy for every input");
  out->excludes(out_dir);
  cmd->add_flag("--print-config", opt->print_config, "Print the effective configuration (YAML) and exit")
      ->capture_default_str();

  return [opt]() {
    const FeatureConfig config = BuildFeatureConfig(opt->features);
    if (opt->print_config) {
      YAML::Emitter emitter;
      emitter << ConfigToYaml(config);
      fmt::print("{}\n", emitter.c_str());
      return static_cast<int>(kExitOk);
    }
    if (!opt->out.empty() && opt->files.size() != 1) {
      throw ConfigError("--out takes one input file; use --out-dir for " + std::to_string(opt->files.size()));
    }
    if (!opt->out_dir.empty()) std::filesystem::create_directories(opt->out_dir);
    int status = kExitOk;
    for (const std::string& path : opt->files) {
      try {
        std::optional<NpyWriter> writer;
        std::string out_path = opt->out;
        if (!opt->out_dir.empty()) {
          out_path = (std::filesystem::path(opt->out_dir) / std::filesystem::path(path).stem()).string() + ".npy";
        }
        if (!out_path.empty()) writer.emplace(out_path, config.Dim());
        int64_t frames = 0;
        double sum = 0.0;
        float lo = std::numeric_limits<float>::infinity(), hi = -lo;
        const double duration_s =
            StreamFileFeatures(path, config, opt->features.channel, [&](std::span<const float> rows) {
              if (writer) writer->AppendRows(rows);
              for (float v : rows) {
                sum += v;
                lo = std::min(lo, v);
                hi = std::max(hi, v);
              }
              frames += static_cast<int64_t>(rows.size()) / config.Dim();
            });
        if (writer) writer->Close();
        const double n = static_cast<double>(frames) * config.Dim();
        fmt::print("{}: {:.3f} s, {} frames x {} dims, mean {:.3f}, min {:.3f}, max {:.3f}{}\n", path, duration_s,
                   frames, config.Dim(), n > 0 ? sum / n : 0.0, frames > 0 ? lo : 0.0f, frames > 0 ? hi : 0.0f,
                   out_path.empty() ? "" : " -> " + out_path);
      } catch (const Error& e) {
        // Batch rule: every input yields a result or an error record; the first failure sets the exit code.
        fmt::print(stderr, "error: {}\n", e.what());
        if (status == kExitOk) status = ExitCodeFor(e);
      }
    }
    return status;
  };
}

}  // namespace ossicle
