// sink.wav — writes the audio it is fed to a WAV file (e.g. what the microphone heard), mono, at the
// stream's rate. Every input of a run goes into the one file, one after the other. Written to
// "<path>.tmp" and renamed when the run ends.
#include <sndfile.h>

#include <array>
#include <filesystem>

#include "features/errors.h"
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

namespace {

enum class WavEncoding { kPcm16, kPcm24, kFloat };
}  // namespace

template <>
struct EnumNames<WavEncoding> {
  static constexpr std::array kValues{std::pair{WavEncoding::kPcm16, std::string_view{"pcm16"}},
                                      std::pair{WavEncoding::kPcm24, std::string_view{"pcm24"}},
                                      std::pair{WavEncoding::kFloat, std::string_view{"float"}}};
};

namespace {

struct WavSinkOptions {
  std::string path;
  WavEncoding encoding = WavEncoding::kPcm16;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"path", "path", "WAV file to write"}, self.path);
    v(FieldInfo{"encoding", "", "sample format (pcm16, pcm24: clipped to [-1, 1); float: as is)"}, self.encoding);
  }
  void Validate(std::string_view key_path) const {
    if (path.empty()) throw ConfigError(RuleMessage(key_path, "path", path, "the WAV file to write"));
  }
};

class WavSinkInstance : public SinkInstance {
 public:
  WavSinkInstance(const WavSinkOptions& options, double sample_rate_hz) : path_(options.path), tmp_(options.path + ".tmp") {
    SF_INFO info{};
    info.samplerate = static_cast<int>(sample_rate_hz);
    info.channels = 1;
    const int subtype = options.encoding == WavEncoding::kPcm16   ? SF_FORMAT_PCM_16
                        : options.encoding == WavEncoding::kPcm24 ? SF_FORMAT_PCM_24
                                                                  : SF_FORMAT_FLOAT;
    info.format = SF_FORMAT_WAV | subtype;
    file_ = sf_open(tmp_.c_str(), SFM_WRITE, &info);
    if (file_ == nullptr) throw IoError(path_ + ": cannot open for writing: " + sf_strerror(nullptr));
    // Integer encodings clip instead of wrapping around.
    sf_command(file_, SFC_SET_CLIPPING, nullptr, SF_TRUE);
  }
  ~WavSinkInstance() override {
    if (file_ != nullptr) {
      sf_close(file_);
      std::error_code ec;
      std::filesystem::remove(tmp_, ec);
    }
  }
  WavSinkInstance(const WavSinkInstance&) = delete;
  WavSinkInstance& operator=(const WavSinkInstance&) = delete;

  void Accept(size_t, const Packet& packet, Emitter&) override {
    const auto& chunk = std::get<AudioChunk>(packet);
    const auto n = static_cast<sf_count_t>(chunk.samples.size());
    if (sf_write_float(file_, chunk.samples.data(), n) != n) throw IoError(path_ + ": write failed: " + sf_strerror(file_));
  }

  void Close() override {
    if (file_ == nullptr) return;
    const int rc = sf_close(file_);
    file_ = nullptr;
    std::error_code ec;
    if (rc != 0) {
      std::filesystem::remove(tmp_, ec);
      throw IoError(path_ + ": write failed: " + sf_error_number(rc));
    }
    std::filesystem::rename(tmp_, path_, ec);
    if (ec) throw IoError(path_ + ": cannot rename the finished output into place: " + ec.message());
  }

 private:
  std::string path_, tmp_;
  SNDFILE* file_ = nullptr;
};

class WavSinkStage : public SimpleStage {
 public:
  WavSinkStage(const WavSinkOptions& options, double sample_rate_hz) : options_(options) {
    output_.kind = StreamKind::kRecords;
    output_.sample_rate_hz = sample_rate_hz;
  }
  Lifetime GetLifetime() const override { return Lifetime::kPerRun; }
  std::unique_ptr<StageInstance> Start(const InputContext&) const override {
    return std::make_unique<WavSinkInstance>(options_, output_.sample_rate_hz);
  }

 private:
  WavSinkOptions options_;
};

}  // namespace

void RegisterWavSinkStage(StageRegistry& registry) {
  registry.Add(StageType{
      .name = "sink.wav",
      .summary = "writes the audio it is fed to a mono WAV file (e.g. a recording of the microphone)",
      .inputs = {InputPort{StreamKind::kAudio, 1, 1, "audio"}},
      .docs = [] { return OptionDocs<WavSinkOptions>(); },
      .build = [](const StageBuildContext& ctx) -> std::unique_ptr<const Stage> {
        WavSinkOptions options;
        ctx.ReadOptions(options);
        const double rate = ctx.InputOn(0)->sample_rate_hz;
        if (rate != static_cast<int>(rate)) {
          ctx.FailInput(0, "sink.wav needs a whole number of samples per second, got " + FormatValue(rate) + " Hz");
        }
        return std::make_unique<WavSinkStage>(options, rate);
      },
      .is_sink = true,
  });
}

}  // namespace ossicle
