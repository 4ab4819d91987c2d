#include "features/cmvn.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "features/errors.h"

namespace ossicle {

void CmvnConfig::Validate(std::string_view path) const {
  if (mode == CmvnMode::kSliding && (window_frames < 1 || window_frames > 1000000)) {
    throw ConfigError(RuleMessage(path, "window_frames", window_frames, "between 1 and 1000000 in sliding mode"));
  }
  if (mode == CmvnMode::kGlobal && stats_file.empty()) {
    throw ConfigError(RuleMessage(path, "stats_file", stats_file, "a statistics file in global mode"));
  }
  if (skip_digital_silence && mode != CmvnMode::kUtterance) {
    throw ConfigError(RuleMessage(path, "skip_digital_silence", skip_digital_silence, "false unless mode is utterance"));
  }
}

void CmvnStats::Add(std::span<const float> frame) {
  count_ += 1.0;
  for (size_t d = 0; d < sum_.size(); ++d) {
    const double x = frame[d];
    sum_[d] += x;
    sum_sq_[d] += x * x;
  }
}

void CmvnStats::Remove(std::span<const float> frame) {
  count_ -= 1.0;
  for (size_t d = 0; d < sum_.size(); ++d) {
    const double x = frame[d];
    sum_[d] -= x;
    sum_sq_[d] -= x * x;
  }
}

void CmvnStats::Merge(const CmvnStats& other) {
  if (other.Dim() != Dim()) throw Error("CmvnStats::Merge: dimension mismatch");
  count_ += other.count_;
  for (size_t d = 0; d < sum_.size(); ++d) {
    sum_[d] += other.sum_[d];
    sum_sq_[d] += other.sum_sq_[d];
  }
}

std::vector<double> CmvnStats::Mean() const {
  std::vector<double> m(sum_.size());
  for (size_t d = 0; d < m.size(); ++d) m[d] = sum_[d] / count_;
  return m;
}

std::vector<double> CmvnStats::Variance() const {
  std::vector<double> v(sum_.size());
  for (size_t d = 0; d < v.size(); ++d) {
    const double mean = sum_[d] / count_;
    v[d] = std::max(0.0, sum_sq_[d] / count_ - mean * mean);
  }
  return v;
}

void CmvnStats::Apply(bool normalize_variance, std::span<float> frame) const {
  for (size_t d = 0; d < sum_.size(); ++d) {
    const double mean = sum_[d] / count_;
    double x = frame[d] - mean;
    if (normalize_variance) {
      const double var = std::max(sum_sq_[d] / count_ - mean * mean, kVarianceFloor);
      x /= std::sqrt(var);
    }
    frame[d] = static_cast<float>(x);
  }
}

void CmvnStats::Save(const std::string& path) const {
  nlohmann::json j = {{"format", "ossicle-cmvn-stats"}, {"version", 1}, {"dim", Dim()},
                      {"count", count_},           {"sum", sum_}, {"sum_sq", sum_sq_}};
  std::ofstream out(path);
  if (!out) throw IoError(path + ": cannot open for writing");
  out << j.dump(1) << "\n";
  if (!out) throw IoError(path + ": write failed");
}

CmvnStats CmvnStats::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ModelFormatError(path + ": cannot open CMVN statistics file");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw ModelFormatError(path + ": not a JSON CMVN statistics file (" + e.what() + ")");
  }
  try {
    if (j.value("format", "") != "ossicle-cmvn-stats") {
      throw ModelFormatError(path + ": \"format\" is not \"ossicle-cmvn-stats\"");
    }
    const int dim = j.at("dim").get<int>();
    // Not CmvnStats s(dim): dim is untrusted (a negative or huge value must not size an allocation); the
    // vectors come from the file and are checked against dim below.
    if (dim < 1) throw ModelFormatError(path + ": \"dim\" = " + std::to_string(dim) + "; expected >= 1");
    CmvnStats s;
    s.count_ = j.at("count").get<double>();
    s.sum_ = j.at("sum").get<std::vector<double>>();
    s.sum_sq_ = j.at("sum_sq").get<std::vector<double>>();
    if (s.sum_.size() != static_cast<size_t>(dim) || s.sum_sq_.size() != static_cast<size_t>(dim)) {
      throw ModelFormatError(path + ": \"sum\" and \"sum_sq\" must both have \"dim\" = " + std::to_string(dim) +
                             " values");
    }
    if (!(s.count_ > 0.0)) throw ModelFormatError(path + ": \"count\" must be > 0");
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw ModelFormatError(path + ": malformed CMVN statistics (" + e.what() + ")");
  }
}

}  // namespace ossicle
