#include "pipeline/stages/builtin-stages.h"

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "features/errors.h"
#include "features/frame-extraction.h"

namespace ossicle {

void RegisterBuiltinStages(StageRegistry& registry) {
  RegisterFileSourceStage(registry);
  RegisterMicrophoneSourceStage(registry);
  RegisterFeatureStages(registry);
  RegisterVadStage(registry);
  RegisterModelStage(registry);
  RegisterKeywordStage(registry);
  RegisterCtcStages(registry);
  RegisterCtcKeywordStage(registry);
  RegisterJsonlSinkStage(registry);
  RegisterCsvSinkStage(registry);
  RegisterTextSinkStage(registry);
  RegisterWavSinkStage(registry);
  RegisterNpySinkStage(registry);
}

double FrameTimeOffsetSeconds(const FeatureConfig& features) {
  const FrameConfig& f = features.frame;
  const double centre = static_cast<double>(FrameStart(f, 0)) + f.WindowSamples() / 2.0;
  return centre / f.sample_rate_hz - f.frame_shift_ms / 2000.0;
}

double RecordTime(double seconds) { return std::max(0.0, std::round(seconds * 1e4) / 1e4); }

Record HitRecord(const std::string& file, const KeywordHit& hit, double offset_s) {
  return Record{{"type", "hit"},
                {"file", file},
                {"keyword", hit.keyword},
                {"start_s", RecordTime(hit.start_s + offset_s)},
                {"end_s", RecordTime(hit.end_s + offset_s)},
                {"score", hit.score}};
}

Record TranscriptRecord(const std::string& file, const Transcript& transcript, double offset_s) {
  auto times = [&](const std::vector<TokenTime>& items) {
    nlohmann::json list = nlohmann::json::array();
    for (const TokenTime& t : items) {
      list.push_back({{"token", t.token}, {"start_s", RecordTime(t.start_s + offset_s)}, {"end_s", RecordTime(t.end_s + offset_s)}});
    }
    return list;
  };
  return Record{{"type", "transcript"},
                {"file", file},
                {"text", transcript.text},
                {"tokens", times(transcript.tokens)},
                {"words", times(transcript.words)},
                {"confidence", transcript.confidence}};
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
