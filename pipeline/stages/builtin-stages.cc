#include "pipeline/stages/builtin-stages.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "features/errors.h"
#include "features/frame-extraction.h"

namespace ossicle {

void RegisterBuiltinStages(StageRegistry& registry) {
  RegisterFileSourceStage(registry);
  RegisterFeatureStages(registry);
}

double FrameStartSeconds(const FeatureConfig& features, int64_t frame) {
  const int64_t start = std::max<int64_t>(0, FrameStart(features.frame, frame));
  return static_cast<double>(start) / features.frame.sample_rate_hz;
}

double FrameEndSeconds(const FeatureConfig& features, int64_t frame) {
  const int64_t end = FrameStart(features.frame, frame) + features.frame.WindowSamples();
  return static_cast<double>(std::max<int64_t>(0, end)) / features.frame.sample_rate_hz;
}

// ---- SinkFile

SinkFile::SinkFile(const std::string& path) : path_(path) {
  if (path.empty() || std::filesystem::path(path).filename() == "-") {
    is_stdout_ = true;
    file_ = stdout;
    return;
  }
  tmp_ = path + ".tmp";
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (file_ == nullptr) throw IoError(path + ": cannot open for writing: " + std::strerror(errno));
}

SinkFile::~SinkFile() {
  if (!is_stdout_ && file_ != nullptr) {
    std::fclose(file_);
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void SinkFile::Write(const std::string& text) {
  if (file_ == nullptr) throw IoError(path_ + ": written after it was closed");
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size()) {
    throw IoError((is_stdout_ ? std::string("standard output") : path_) + ": write failed: " + std::strerror(errno));
  }
  if (is_stdout_) std::fflush(file_);
}

void SinkFile::Close() {
  if (file_ == nullptr) return;
  if (is_stdout_) {
    std::fflush(file_);
    file_ = nullptr;
    return;
  }
  const bool ok = std::fflush(file_) == 0 && !std::ferror(file_);
  const int err = errno;
  std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  if (!ok) {
    std::filesystem::remove(tmp_, ec);
    throw IoError(path_ + ": write failed: " + std::strerror(err));
  }
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp_, ec);
    throw IoError(path_ + ": cannot rename the finished output into place: " + why);
  }
}

}  // namespace ossicle
