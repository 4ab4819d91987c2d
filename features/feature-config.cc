#include "features/feature-config.h"

#include <cmath>
#include <string>

#include "features/errors.h"

namespace ossicle {

namespace {
std::string Join(std::string_view path, std::string_view name) {
  std::string out(path);
  if (!out.empty()) out += '.';
  out += name;
  return out;
}
}  // namespace

void FeatureConfig::Validate(std::string_view path) const {
  frame.Validate(Join(path, "frame"));
  mel.Validate(frame.sample_rate_hz, Join(path, "mel"));
  if (!std::isfinite(log_floor) || log_floor <= 0.0) {
    throw ConfigError(RuleMessage(path, "log_floor", log_floor, "> 0"));
  }
  if (type == FeatureType::kMfcc) {
    const std::string mpath = Join(path, "mfcc");
    if (mfcc.num_ceps < 1 || mfcc.num_ceps > mel.num_mel_bins) {
      throw ConfigError(RuleMessage(mpath, "num_ceps", mfcc.num_ceps,
                                    "between 1 and mel.num_mel_bins (" + std::to_string(mel.num_mel_bins) + ")"));
    }
    if (!std::isfinite(mfcc.cepstral_lifter) || mfcc.cepstral_lifter < 0.0) {
      throw ConfigError(RuleMessage(mpath, "cepstral_lifter", mfcc.cepstral_lifter, ">= 0"));
    }
  }
  cmvn.Validate(Join(path, "cmvn"));
  deltas.Validate(Join(path, "deltas"));
}

FeatureConfig FeatureConfig::KaldiFbank(int num_mel_bins) {
  FeatureConfig c;
  c.mel.num_mel_bins = num_mel_bins;
  return c;  // the member defaults are Kaldi's
}

FeatureConfig FeatureConfig::LibrosaLogMel(int num_mel_bins) {
  FeatureConfig c;
  c.frame.padding = FramePadding::kCenterZero;
  c.frame.sample_scale = 1.0;
  c.frame.remove_dc_offset = false;
  c.frame.preemphasis_coefficient = 0.0;
  c.frame.window = WindowType::kHann;
  c.frame.periodic_window = true;
  c.mel.num_mel_bins = num_mel_bins;
  c.mel.low_freq_hz = 0.0;
  c.mel.high_freq_hz = 0.0;
  c.mel.scale = MelScale::kSlaney;
  c.mel.triangles = MelTriangles::kHz;
  c.mel.norm = MelNorm::kSlaney;
  c.log_floor = 1e-10;
  return c;
}

FeatureConfig FeatureConfig::KaldiMfcc(int num_ceps) {
  FeatureConfig c;
  c.type = FeatureType::kMfcc;
  c.mel.num_mel_bins = 23;
  c.mfcc.num_ceps = num_ceps;
  return c;
}

}  // namespace ossicle
