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
#include "features/errors.h"
#include "features/feature-config.h"
#include "features/online-features.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/config-yaml.h"
#include "pipeline/npy-file.h"

namespace ossicle {

namespace {

struct FeaturesOptions {
  std::vector<std::string> files;
  std::string config_file;
  std::string preset = "kaldi-fbank";
  int num_mel_bins = 0;
  std::vector<std::string> overrides;
  std::string out;
  std::string out_dir;
  int channel = -1;
  bool print_config = false;
};

FeatureConfig BuildConfig(const FeaturesOptions& opt) {
  FeatureConfig config;
  if (opt.preset == "kaldi-fbank") {
    config = FeatureConfig::KaldiFbank();
  } else if (opt.preset == "librosa-logmel") {
    config = FeatureConfig::LibrosaLogMel();
  } else if (opt.preset == "kaldi-mfcc") {
    config = FeatureConfig::KaldiMfcc();
  }
  YAML::Node root(YAML::NodeType::Map);
  YamlSource source;
  source.base_dir = std::filesystem::current_path();
  if (!opt.config_file.empty()) root = LoadYamlFile(opt.config_file, source);
  if (opt.num_mel_bins > 0) config.mel.num_mel_bins = opt.num_mel_bins;
  for (const std::string& o : opt.overrides) ApplyOverride(root, o);
  ReadConfig(root, config, source, "");
  try {
    config.Validate("");
  } catch (const ConfigError& e) {
    if (opt.config_file.empty()) throw;
    throw ConfigError(opt.config_file + ": " + e.what());
  }
  return config;
}

struct Summary {
  int64_t frames = 0;
  double sum = 0.0;
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
};

// Streams one file through the extractor; writes rows to `writer` when given.
Summary ProcessFile(const std::string& path, const FeatureConfig& config, int channel, NpyWriter* writer,
                    double& duration_s) {
  AudioReadConfig read;
  read.sample_rate_hz = config.frame.sample_rate_hz;
  if (channel >= 0) {
    read.channel_mode = ChannelMode::kSelect;
    read.channel = channel;
  }
  AudioFileReader reader(path, read);
  duration_s = reader.Info().duration_s;
  OnlineFeatureExtractor extractor(config);
  Summary s;
  std::vector<float> block;
  auto drain = [&]() {
    const int64_t first = extractor.FirstFrameHeld();
    std::span<const float> rows = extractor.FramesFrom(first);
    if (writer != nullptr) writer->AppendRows(rows);
    for (float v : rows) {
      s.sum += v;
      s.min = std::min(s.min, v);
      s.max = std::max(s.max, v);
    }
    s.frames = extractor.NumFramesReady();
    extractor.ReleaseFramesBefore(extractor.NumFramesReady());
  };
  while (reader.ReadBlock(block)) {
    extractor.AcceptWaveform(block);
    drain();
  }
  extractor.InputFinished();
  drain();
  if (reader.Truncated()) fmt::print(stderr, "warning: {}\n", reader.TruncationMessage());
  return s;
}

}  // namespace

CommandRunner AddFeaturesCommand(CLI::App& app) {
  auto opt = std::make_shared<FeaturesOptions>();
  CLI::App* cmd = app.add_subcommand(
      "features", "Compute log-mel filterbank or MFCC features; write .npy [frames, dims] float32 or print a summary");
  cmd->add_option("files", opt->files, "Audio files")->required();
  cmd->add_option("--config", opt->config_file, "Feature configuration YAML (keys: ossicle config-docs)");
  cmd->add_option("--preset", opt->preset, "Starting configuration, refined by --config and --set")
      ->check(CLI::IsMember({"kaldi-fbank", "librosa-logmel", "kaldi-mfcc"}))
      ->capture_default_str();
  cmd->add_option("--num-mel-bins", opt->num_mel_bins, "Mel bins (0 keeps the preset's: 40, or 23 for kaldi-mfcc)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--set", opt->overrides, "Override one key, e.g. --set frame.dither=1 (repeatable)");
  auto* out = cmd->add_option("--out", opt->out, "Output .npy (one input file only)");
  auto* out_dir = cmd->add_option("--out-dir", opt->out_dir, "Write DIR/<input name>.npy for every input");
  out->excludes(out_dir);
  cmd->add_option("--channel", opt->channel, "Use this channel (0-based) instead of averaging all channels")
      ->check(CLI::Range(-1, 255))
      ->capture_default_str();
  cmd->add_flag("--print-config", opt->print_config, "Print the effective configuration (YAML) and exit");

  return [opt]() {
    const FeatureConfig config = BuildConfig(*opt);
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
        double duration_s = 0.0;
        const Summary s = ProcessFile(path, config, opt->channel, writer ? &*writer : nullptr, duration_s);
        if (writer) writer->Close();
        const double n = static_cast<double>(s.frames) * config.Dim();
        fmt::print("{}: {:.3f} s, {} frames x {} dims, mean {:.3f}, min {:.3f}, max {:.3f}{}\n", path, duration_s,
                   s.frames, config.Dim(), n > 0 ? s.sum / n : 0.0, s.frames > 0 ? s.min : 0.0f,
                   s.frames > 0 ? s.max : 0.0f, out_path.empty() ? "" : " -> " + out_path);
      } catch (const Error& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        if (status == kExitOk) status = ExitCodeFor(e);
      }
    }
    return status;
  };
}

CommandRunner AddConfigDocsCommand(CLI::App& app) {
  auto markdown = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("config-docs", "Print every configuration key with its unit, default and meaning");
  cmd->add_flag("--markdown", *markdown, "Markdown table (configs/README.md is this output)");
  return [markdown]() {
    std::vector<ConfigDocRow> rows;
    CollectConfigDocs(FeatureConfig{}, "", rows);
    if (*markdown) {
      fmt::print("# Configuration reference\n\n");
      fmt::print("Generated by `ossicle config-docs --markdown` from the config structs; do not edit by hand.\n\n");
      fmt::print("## Features (`ossicle features --config FILE`)\n\n");
      fmt::print("| key | type | unit | default | meaning |\n|---|---|---|---|---|\n");
      for (const auto& r : rows) {
        fmt::print("| `{}` | {} | {} | `{}` | {} |\n", r.key, r.type, r.unit, r.default_value, r.help);
      }
    } else {
      for (const auto& r : rows) {
        fmt::print("{:<36} {:<46} {:<8} default {:<14} {}\n", r.key, r.type, r.unit, r.default_value, r.help);
      }
    }
    return static_cast<int>(kExitOk);
  };
}

}  // namespace ossicle
