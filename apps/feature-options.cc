#include "apps/feature-options.h"

#include <fmt/core.h>

#include <filesystem>

#include "apps/commands.h"
#include "features/errors.h"
#include "features/online-features.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/config-yaml.h"

namespace ossicle {

void AddFeatureOptions(CLI::App& cmd, FeatureOptions& opt) {
  cmd.add_option("--config", opt.config_file, "Feature configuration YAML (keys: ossicle config-docs)");
  cmd.add_option("--preset", opt.preset, "Starting configuration, refined by --config and --set")
      ->check(CLI::IsMember({"kaldi-fbank", "librosa-logmel", "kaldi-mfcc"}))
      ->capture_default_str();
  cmd.add_option("--num-mel-bins", opt.num_mel_bins, "Mel bins (0 keeps the preset's: 40, or 23 for kaldi-mfcc)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  AddSetOption(cmd, opt.overrides, "Override one key, e.g. --set frame.dither=1");
  cmd.add_option("--channel", opt.channel, "Use this channel (0-based) instead of averaging all (-1)")
      ->check(CLI::Range(-1, 255))
      ->capture_default_str();
}

FeatureConfig BuildFeatureConfig(const FeatureOptions& opt) {
  FeatureConfig config;
  if (opt.preset == "librosa-logmel") {
    config = FeatureConfig::LibrosaLogMel();
  } else if (opt.preset == "kaldi-mfcc") {
    config = FeatureConfig::KaldiMfcc();
  } else {
    config = FeatureConfig::KaldiFbank();
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

double StreamFileFeatures(const std::string& path, const FeatureConfig& config, int channel,
                          const std::function<void(std::span<const float> rows)>& rows) {
  AudioReadConfig read;
  read.sample_rate_hz = config.frame.sample_rate_hz;
  if (channel >= 0) {
    read.channel_mode = ChannelMode::kSelect;
    read.channel = channel;
  }
  AudioFileReader reader(path, read);
  OnlineFeatureExtractor extractor(config);
  std::vector<float> block;
  auto drain = [&]() {
    rows(extractor.FramesFrom(extractor.FirstFrameHeld()));
    extractor.ReleaseFramesBefore(extractor.NumFramesReady());
  };
  while (reader.ReadBlock(block)) {
    extractor.AcceptWaveform(block);
    drain();
  }
  extractor.InputFinished();
  drain();
  if (reader.Truncated()) fmt::print(stderr, "warning: {}\n", reader.TruncationMessage());
  return reader.Info().duration_s;
}

}  // namespace ossicle
