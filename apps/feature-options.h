// Shared by the subcommands that compute features (features, cmvn-stats): the options that choose the
// feature configuration, and streaming one file through the extractor.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "features/feature-config.h"

namespace ossicle {

struct FeatureOptions {
  std::string config_file;
  std::string preset = "kaldi-fbank";
  int num_mel_bins = 0;
  std::vector<std::string> overrides;
  int channel = -1;
};

// Registers --config, --preset, --num-mel-bins, --set and --channel on `cmd`.
void AddFeatureOptions(CLI::App& cmd, FeatureOptions& opt);

// preset -> --config file -> --num-mel-bins -> --set, then Validate(). Throws ConfigError / IoError.
FeatureConfig BuildFeatureConfig(const FeatureOptions& opt);

// Reads `path` in blocks (resampled to the feature rate, channels averaged or `channel` selected), streams
// it through an OnlineFeatureExtractor and hands every batch of finished rows (row-major, Dim() values per
// row) to `rows`. Returns the file's duration in seconds. Warns on stderr about truncated files.
double StreamFileFeatures(const std::string& path, const FeatureConfig& config, int channel,
                          const std::function<void(std::span<const float> rows)>& rows);

}  // namespace ossicle
