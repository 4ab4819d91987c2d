#include "pipeline/audio-file-reader.h"

#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "features/errors.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using Catch::Contains;
using Catch::StartsWith;
using test::ScopedTempDir;

// Runs f, expects it to throw E, returns the message. Another exception type propagates and fails the test.
template <class E, class F>
std::string MessageOf(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("no exception was thrown");
  return {};
}

// Reads the whole file block by block and checks the ReadBlock contract on the way.
std::vector<float> ReadAllBlocks(AudioFileReader& reader) {
  const int64_t before = reader.OutputSamplesRead();
  std::vector<float> all;
  std::vector<float> block{1.0f, 2.0f};  // stale content must be cleared
  while (reader.ReadBlock(block)) {
    REQUIRE_FALSE(block.empty());
    all.insert(all.end(), block.begin(), block.end());
  }
  CHECK(block.empty());
  CHECK_FALSE(reader.ReadBlock(block));  // stays finished
  CHECK(block.empty());
  CHECK(reader.OutputSamplesRead() - before == static_cast<int64_t>(all.size()));
  return all;
}

AudioReadConfig WithRate(double rate_hz) {
  AudioReadConfig config;
  config.sample_rate_hz = rate_hz;
  return config;
}

double IdealSine(double amplitude, double frequency_hz, int64_t n, double rate_hz) {
  return amplitude * std::sin(2.0 * std::numbers::pi * frequency_hz * static_cast<double>(n) / rate_hz);
}

struct SineFit {
  double correlation = 0.0;  // normalised cross-correlation with the ideal sine
  double gain = 0.0;         // least-squares amplitude ratio, actual / ideal
  double max_error = 0.0;
};

// Compares x[skip .. size - skip) with amplitude * sin(2 pi f n / rate).
SineFit FitSine(const std::vector<float>& x, double amplitude, double frequency_hz, double rate_hz,
                size_t skip) {
  double xy = 0.0, xx = 0.0, yy = 0.0;
  SineFit fit;
  for (size_t n = skip; n + skip < x.size(); ++n) {
    const double ideal = IdealSine(amplitude, frequency_hz, static_cast<int64_t>(n), rate_hz);
    xy += x[n] * ideal;
    xx += static_cast<double>(x[n]) * x[n];
    yy += ideal * ideal;
    fit.max_error = std::max(fit.max_error, std::abs(x[n] - ideal));
  }
  fit.correlation = xy / std::sqrt(xx * yy);
  fit.gain = xy / yy;
  return fit;
}

int64_t ExpectedLength(int64_t frames, double out_hz, double in_hz) {
  return std::llround(static_cast<double>(frames) * out_hz / in_hz);
}

}  // namespace

TEST_CASE("AudioReadConfig: defaults, field list and every validation rule", "[audio-file-reader]") {
  const AudioReadConfig defaults;
  CHECK_NOTHROW(defaults.Validate());
  CHECK(ConfigToString(defaults) ==
        "{sample_rate_hz: 16000, channel_mode: average, channel: 0, block_frames: 65536, max_duration_s: "
        "86400}");
  CHECK(EnumFromString<ChannelMode>("select") == ChannelMode::kSelect);
  CHECK(EnumChoices<ChannelMode>() == "average|select");

  AudioReadConfig c;
  SECTION("sample_rate_hz 0 keeps the file's rate and is valid") {
    c.sample_rate_hz = 0.0;
    CHECK_NOTHROW(c.Validate());
  }
  SECTION("sample_rate_hz negative") {
    c.sample_rate_hz = -16000.0;
    CHECK_THAT(
        MessageOf<ConfigError>([&] { c.Validate(); }),
        StartsWith("audio.sample_rate_hz = -16000; expected 0 (keep the file's rate) or in [1, 768000]"));
  }
  SECTION("sample_rate_hz too high") {
    c.sample_rate_hz = 800000.0;
    CHECK_THAT(MessageOf<ConfigError>([&] { c.Validate(); }), StartsWith("audio.sample_rate_hz = 800000;"));
  }
  SECTION("sample_rate_hz NaN") {
    c.sample_rate_hz = std::numeric_limits<double>::quiet_NaN();
    CHECK_THAT(MessageOf<ConfigError>([&] { c.Validate(); }), StartsWith("audio.sample_rate_hz = nan;"));
  }
  SECTION("channel negative, under the caller's key path") {
    c.channel = -1;
    CHECK(MessageOf<ConfigError>([&] { c.Validate("front.audio"); }) ==
          "front.audio.channel = -1; expected >= 0");
  }
  SECTION("block_frames 0 and above 2^24") {
    c.block_frames = 0;
    CHECK(MessageOf<ConfigError>([&] { c.Validate(); }) ==
          "audio.block_frames = 0; expected in [1, 16777216]");
    c.block_frames = kMaxAudioBlockFrames + 1;
    CHECK_THAT(MessageOf<ConfigError>([&] { c.Validate(); }), StartsWith("audio.block_frames = 16777217;"));
  }
  SECTION("max_duration_s 0 and infinite") {
    c.max_duration_s = 0.0;
    CHECK(MessageOf<ConfigError>([&] { c.Validate(); }) ==
          "audio.max_duration_s = 0; expected finite and > 0");
    c.max_duration_s = std::numeric_limits<double>::infinity();
    CHECK_THAT(MessageOf<ConfigError>([&] { c.Validate(); }), StartsWith("audio.max_duration_s = inf;"));
  }
  SECTION("the reader validates its config") {
    ScopedTempDir tmp;
    const std::string path =
        test::WritePcm16Wav(tmp.path(), "a.wav", 16000, 1, test::SineInt16(16000, 100, 440, 0.5));
    c.block_frames = -5;
    CHECK_THAT(MessageOf<ConfigError>([&] { AudioFileReader r(path, c); }),
               StartsWith("audio.block_frames = -5"));
  }
}

TEST_CASE("PCM_16 at the output rate reads back bit-exact, in any block size", "[audio-file-reader]") {
  ScopedTempDir tmp;
  std::vector<int16_t> pcm = test::SineInt16(16000, 16000, 440.0, 0.5);
  pcm[10] = -32768;  // full-scale extremes: -1 exactly and the largest value below 1
  pcm[11] = 32767;
  pcm[12] = -1;
  const std::string path = test::WritePcm16Wav(tmp.path(), "sine16k.wav", 16000, 1, pcm);

  const AudioInfo info = ProbeAudioFile(path);
  CHECK(info.path == path);
  CHECK(info.container == "WAV");
  CHECK(info.encoding == "PCM_16");
  CHECK(info.sample_rate_hz == 16000);
  CHECK(info.channels == 1);
  CHECK(info.frames == 16000);
  CHECK(info.declared_frames == 16000);
  CHECK_FALSE(info.HeaderClaimsMore());
  CHECK(info.duration_s == 1.0);

  const int64_t block = GENERATE(int64_t{1}, int64_t{7}, int64_t{4096}, int64_t{1} << 20);
  AudioReadConfig config;
  config.block_frames = block;
  AudioFileReader reader(path, config);
  CHECK_FALSE(reader.Resampling());
  CHECK(reader.OutputSampleRateHz() == 16000.0);
  const std::vector<float> x = ReadAllBlocks(reader);
  REQUIRE(x.size() == pcm.size());
  CHECK(reader.InputFramesRead() == 16000);
  CHECK_FALSE(reader.Truncated());
  CHECK(reader.TruncationMessage().empty());
  size_t mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] != static_cast<float>(pcm[i]) / 32768.0f) {
      if (++mismatches <= 5)
        FAIL_CHECK("sample " << i << ": expected " << pcm[i] / 32768.0f << ", got " << x[i]);
    }
  }
  CHECK(mismatches == 0);
  CHECK(x[10] == -1.0f);
  CHECK(x[11] == 32767.0f / 32768.0f);
}

TEST_CASE("sample_rate_hz = 0 keeps the file's own rate", "[audio-file-reader]") {
  ScopedTempDir tmp;
  const std::vector<int16_t> pcm = test::SineInt16(8000, 4000, 300.0, 0.25);
  const std::string path = test::WritePcm16Wav(tmp.path(), "sine8k.wav", 8000, 1, pcm);
  AudioFileReader reader(path, WithRate(0.0));
  CHECK(reader.OutputSampleRateHz() == 8000.0);
  CHECK_FALSE(reader.Resampling());
  const std::vector<float> x = ReadAllBlocks(reader);
  REQUIRE(x.size() == 4000);
  CHECK(x[123] == pcm[123] / 32768.0f);
}

TEST_CASE("Stereo: average is (L + R) / 2, select picks one channel", "[audio-file-reader]") {
  ScopedTempDir tmp;
  const std::vector<int16_t> left = test::SineInt16(16000, 3000, 440.0, 0.5);
  const std::vector<int16_t> right = test::SineInt16(16000, 3000, 1000.0, 0.3);
  std::vector<int16_t> interleaved;
  for (size_t i = 0; i < left.size(); ++i) {
    interleaved.push_back(left[i]);
    interleaved.push_back(right[i]);
  }
  interleaved[0] = 32767;  // odd sum: the average is a half-integer step, still exact in float
  interleaved[1] = 0;
  const std::string path = test::WritePcm16Wav(tmp.path(), "stereo.wav", 16000, 2, interleaved);
  CHECK(ProbeAudioFile(path).channels == 2);

  SECTION("average") {
    const std::vector<float> x = ReadAudioFile(path);
    REQUIRE(x.size() == 3000);
    for (size_t i = 0; i < x.size(); ++i) {
      const double l = interleaved[2 * i];
      const double r = interleaved[2 * i + 1];
      INFO("frame " << i);
      REQUIRE(x[i] == static_cast<float>((l + r) / 2.0 / 32768.0));
    }
    CHECK(x[0] == 32767.0f / 65536.0f);
  }
  SECTION("select") {
    AudioReadConfig config;
    config.channel_mode = ChannelMode::kSelect;
    for (int channel : {0, 1}) {
      config.channel = channel;
      const std::vector<float> x = ReadAudioFile(path, config);
      REQUIRE(x.size() == 3000);
      for (size_t i = 0; i < x.size(); ++i) {
        INFO("channel " << channel << " frame " << i);
        REQUIRE(x[i] == interleaved[2 * i + static_cast<size_t>(channel)] / 32768.0f);
      }
    }
  }
  SECTION("a channel the file does not have is a ConfigError naming audio.channel") {
    AudioReadConfig config;
    config.channel_mode = ChannelMode::kSelect;
    config.channel = 2;
    const std::string message = MessageOf<ConfigError>([&] { AudioFileReader r(path, config); });
    CHECK_THAT(message, StartsWith("audio.channel = 2; expected < 2"));
    CHECK_THAT(message, Contains(path));
  }
  SECTION("kAverage ignores the channel field") {
    AudioReadConfig config;
    config.channel = 5;
    CHECK_NOTHROW(ReadAudioFile(path, config));
  }
}

TEST_CASE("Resampling to 16 kHz keeps length, frequency, phase and amplitude", "[audio-file-reader]") {
  ScopedTempDir tmp;
  const int rate = GENERATE(8000, 22050, 44100, 48000);
  constexpr double kSeconds = 1.2345;  // not a whole number of output samples at 44.1 kHz
  const std::string path = test::WriteSineFile(tmp.path(), "sine.wav", rate, 1, kSeconds,
                                               SF_FORMAT_WAV | SF_FORMAT_FLOAT, 440.0, 0.5);
  const int64_t frames = std::llround(kSeconds * rate);
  REQUIRE(ProbeAudioFile(path).frames == frames);

  AudioFileReader reader(path, WithRate(16000.0));
  CHECK(reader.Resampling());
  const std::vector<float> x = ReadAllBlocks(reader);
  INFO("input rate " << rate << " Hz, " << frames << " frames");
  CHECK(static_cast<int64_t>(x.size()) == ExpectedLength(frames, 16000.0, rate));
  CHECK(reader.InputFramesRead() == frames);
  CHECK_FALSE(reader.Truncated());

  // 25 ms from each edge: the filter sees the file's hard start and end there.
  const SineFit fit = FitSine(x, 0.5, 440.0, 16000.0, 400);
  CHECK(fit.correlation > 0.9999);  // same frequency and phase (soxr removes its delay)
  CHECK(fit.gain == Approx(1.0).margin(0.01));
  CHECK(fit.max_error < 0.005);
}

TEST_CASE("Resampled output does not depend on the block size", "[audio-file-reader]") {
  ScopedTempDir tmp;
  const int channels = GENERATE(1, 2);
  const double out_rate = GENERATE(16000.0, 44100.0 /* no resampling */, 11025.0 /* upsampling x 0.25 */);
  const std::string path = test::WriteSineFile(tmp.path(), "sine.flac", 44100, channels, 0.7,
                                               SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 440.0, 0.5);
  AudioReadConfig huge = WithRate(out_rate);
  huge.block_frames = int64_t{1} << 20;
  AudioFileReader one_shot(path, huge);
  const std::vector<float> expected = ReadAllBlocks(one_shot);
  CHECK(static_cast<int64_t>(expected.size()) == ExpectedLength(std::llround(0.7 * 44100), out_rate, 44100));

  for (int64_t block : {int64_t{1}, int64_t{7}, int64_t{1000}}) {
    AudioReadConfig small = WithRate(out_rate);
    small.block_frames = block;
    AudioFileReader chunked(path, small);
    INFO(channels << " channel(s), " << out_rate << " Hz, block_frames " << block);
    CHECK(ReadAllBlocks(chunked) == expected);
  }
}

TEST_CASE("Every format libsndfile writes for us reads back", "[audio-file-reader]") {
  struct Case {
    const char* name;
    int format;
    const char* container;
    const char* encoding;
    double max_error;  // per-format quantisation: write scale 2^(b-1) - 1, read scale 2^(b-1)
  };
  const Case c = GENERATE(values<Case>({
      {"u8.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_U8, "WAV", "PCM_U8", 0.01},
      {"s16.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, "WAV", "PCM_16", 5e-5},
      {"s24.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_24, "WAV", "PCM_24", 1e-6},
      {"s32.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, "WAV", "PCM_32", 1e-6},
      {"f32.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, "WAV", "FLOAT", 1e-7},
      {"f64.wav", SF_FORMAT_WAV | SF_FORMAT_DOUBLE, "WAV", "DOUBLE", 1e-7},
      {"s16.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, "FLAC", "PCM_16", 5e-5},
      {"s24.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_24, "FLAC", "PCM_24", 1e-6},
      {"s16.aiff", SF_FORMAT_AIFF | SF_FORMAT_PCM_16, "AIFF", "PCM_16", 5e-5},
      {"vorbis.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, "OGG", "VORBIS", -1.0},  // lossy: correlation only
  }));
  ScopedTempDir tmp;
  const std::string path = test::WriteSineFile(tmp.path(), c.name, 16000, 1, 0.5, c.format, 440.0, 0.5);
  INFO(c.name);
  const AudioInfo info = ProbeAudioFile(path);
  CHECK(info.container == c.container);
  CHECK(info.encoding == c.encoding);
  CHECK(info.sample_rate_hz == 16000);
  CHECK(info.frames == 8000);

  const std::vector<float> x = ReadAudioFile(path);
  REQUIRE(x.size() == 8000);
  if (c.max_error > 0) {
    const SineFit fit = FitSine(x, 0.5, 440.0, 16000.0, 0);
    CHECK(fit.max_error < c.max_error);
  } else {
    const SineFit fit = FitSine(x, 0.5, 440.0, 16000.0, 400);
    CHECK(fit.correlation > 0.99);
    CHECK(fit.gain == Approx(1.0).margin(0.05));
  }
}

TEST_CASE("Unusable files throw AudioError naming the file and the problem", "[audio-file-reader]") {
  ScopedTempDir tmp;
  const fs::path& dir = tmp.path();

  // Both entry points refuse the file before reading samples; returns the reader's message.
  auto refused = [](const std::string& path) {
    const std::string probe_message = MessageOf<AudioError>([&] { ProbeAudioFile(path); });
    const std::string reader_message = MessageOf<AudioError>([&] { AudioFileReader r(path); });
    CHECK(probe_message == reader_message);
    CHECK_THAT(reader_message, StartsWith(path + ": "));
    return reader_message;
  };

  SECTION("missing file") {
    const std::string path = (dir / "missing.wav").string();
    CHECK(refused(path) == path + ": cannot open: No such file or directory");
  }
  SECTION("a directory") {
    const std::string path = dir.string();
    CHECK(refused(path) == path + ": is a directory, not an audio file");
  }
  SECTION("a FIFO is refused, not waited on") {
    const std::string path = (dir / "fifo.wav").string();
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    CHECK(refused(path) == path + ": is not a regular file");
  }
  SECTION("no read permission") {
    if (::geteuid() == 0) {
      WARN("running as root: permissions are not enforced, case skipped");
    } else {
      const std::string path =
          test::WritePcm16Wav(dir, "locked.wav", 16000, 1, test::SineInt16(16000, 100, 440, 0.5));
      fs::permissions(path, fs::perms::none);
      CHECK(refused(path) == path + ": cannot open: Permission denied");
    }
  }
  SECTION("a text file") {
    const std::string path = test::WriteTextFile(dir);
    CHECK_THAT(refused(path), Contains("not a recognised audio file (libsndfile:"));
  }
  SECTION("an empty file") {
    const std::string path = test::WriteBytes(dir, "empty.wav", "");
    CHECK_THAT(refused(path), Contains("not a recognised audio file"));
  }
  SECTION("unknown WAV format tag") {
    const std::string path = test::WriteUnknownFormatTagWav(dir);
    CHECK(refused(path) ==
          path + ": unsupported encoding: WAV format tag 0x1234 is not one libsndfile decodes");
  }
  SECTION("truncated header (first 20 bytes of a WAV)") {
    const std::string path = test::WriteTruncatedHeaderWav(dir);
    CHECK(refused(path) ==
          path +
              ": truncated header: the 'fmt ' chunk at byte 12 needs 24 bytes but the file ends at byte 20");
  }
  SECTION("truncated inside the RIFF header") {
    const std::string path = test::WriteBytes(dir, "riff-only.wav", std::string("RIFF\x24\x00", 6));
    CHECK_THAT(refused(path), Contains("truncated header: the file ends at byte 6"));
  }
  SECTION("a header with no data chunk") {
    const std::string full = test::MakeRawWav(test::RawWavHeader{}, "");
    const std::string path = test::WriteBytes(dir, "no-data.wav", full.substr(0, 36));
    CHECK_THAT(refused(path), Contains("truncated header: the file ends at byte 36 before a 'data' chunk"));
  }
  SECTION("zero frames") {
    const std::string path = test::WriteEmptyDataWav(dir);
    CHECK(refused(path) == path + ": contains no audio (0 frames)");
  }
  SECTION("sample rate 0") {
    const std::string path = test::WriteZeroRateWav(dir);
    CHECK(refused(path) == path + ": header declares sample rate 0 Hz; expected 1 to 768000 Hz");
  }
  SECTION("sample rate 1 MHz") {
    const std::string path = test::WriteHugeRateWav(dir);
    CHECK(refused(path) == path + ": header declares sample rate 1000000 Hz; expected 1 to 768000 Hz");
  }
  SECTION("zero channels") {
    const std::string path = test::WriteZeroChannelWav(dir);
    CHECK(refused(path) == path + ": header declares 0 channels; expected 1 to 256");
  }
  SECTION("1000 channels (libsndfile accepts, ossicle refuses)") {
    const std::string path = test::WriteHugeChannelCountWav(dir, 1000);
    CHECK(refused(path) == path + ": header declares 1000 channels; expected 1 to 256");
  }
  SECTION("65535 channels (libsndfile refuses)") {
    const std::string path = test::WriteHugeChannelCountWav(dir, 65535);
    CHECK(refused(path) == path + ": header declares 65535 channels; expected 1 to 256");
  }
  SECTION("WAV header claiming 37 hours in 3 kB") {
    const std::string path = test::WriteHugeDurationWav(dir);
    CHECK(refused(path) == path +
                               ": duration 134217.7 s exceeds the limit of 86400 s (audio.max_duration_s): "
                               "header declares 2147483640 frames at 16000 Hz");
  }
  SECTION("FLAC STREAMINFO claiming 2^36 - 1 frames") {
    const std::string path = test::WriteHugeDurationFlac(dir);
    const std::string message = refused(path);
    CHECK_THAT(message, Contains("exceeds the limit of 86400 s (audio.max_duration_s)"));
    CHECK_THAT(message, Contains("header declares 68719476735 frames at 16000 Hz"));
  }
  SECTION("a lower max_duration_s") {
    const std::string path =
        test::WritePcm16Wav(dir, "one-second.wav", 16000, 1, test::SineInt16(16000, 16000, 440, 0.5));
    AudioReadConfig config;
    config.max_duration_s = 0.5;
    CHECK_NOTHROW(ProbeAudioFile(path));
    const std::string expected = path +
                                 ": duration 1.0 s exceeds the limit of 0.5 s (audio.max_duration_s): "
                                 "header declares 16000 frames at 16000 Hz";
    CHECK(MessageOf<AudioError>([&] { ProbeAudioFile(path, 0.5); }) == expected);
    CHECK(MessageOf<AudioError>([&] { AudioFileReader r(path, config); }) == expected);
  }
}

TEST_CASE("NaN and Inf samples are found while reading, with their time and channel", "[audio-file-reader]") {
  ScopedTempDir tmp;
  SECTION("NaN at 0.5 s, at the file's rate and resampled") {
    const std::string path = test::WriteNanFloatWav(tmp.path());
    const AudioInfo info = ProbeAudioFile(path);  // the header is fine
    CHECK(info.encoding == "FLOAT");
    const std::string expected =
        path + ": sample 8000 (t = 0.500 s, channel 0) is NaN; expected finite sample values";
    CHECK(MessageOf<AudioError>([&] { ReadAudioFile(path); }) == expected);
    CHECK(MessageOf<AudioError>([&] { ReadAudioFile(path, WithRate(8000.0)); }) == expected);

    // Blocks before the bad one are delivered; then the reader stays failed.
    AudioReadConfig config;
    config.block_frames = 1000;
    AudioFileReader reader(path, config);
    std::vector<float> block;
    for (int i = 0; i < 8; ++i) {
      REQUIRE(reader.ReadBlock(block));
      CHECK(block.size() == 1000);
    }
    CHECK(MessageOf<AudioError>([&] { reader.ReadBlock(block); }) == expected);
    CHECK(block.empty());
    CHECK(MessageOf<AudioError>([&] { reader.ReadBlock(block); }) == expected);
  }
  SECTION("+Inf in channel 1 of a stereo file is reported before a later -Inf") {
    const std::string path = test::WriteInfFloatWav(tmp.path());
    AudioReadConfig config;
    config.channel_mode = ChannelMode::kSelect;  // every channel is checked, not only the one used
    config.channel = 0;
    CHECK(MessageOf<AudioError>([&] { ReadAudioFile(path, config); }) ==
          path + ": sample 1234 (t = 0.077 s, channel 1) is +Inf; expected finite sample values");
  }
}

TEST_CASE("Truncated data: what is there is returned, then the reader says so", "[audio-file-reader]") {
  ScopedTempDir tmp;
  SECTION("WAV data chunk cut short (and half a sample)") {
    const std::string path = test::WriteTruncatedDataWav(tmp.path());
    const AudioInfo info = ProbeAudioFile(path);
    CHECK(info.frames == test::kTruncatedPresentFrames);
    CHECK(info.declared_frames == test::kTruncatedDeclaredFrames);
    CHECK(info.HeaderClaimsMore());

    AudioReadConfig config;
    config.block_frames = 64;
    AudioFileReader reader(path, config);
    std::vector<float> block;
    REQUIRE(reader.ReadBlock(block));
    CHECK_FALSE(reader.Truncated());  // not known yet
    std::vector<float> x = block;
    const std::vector<float> rest = ReadAllBlocks(reader);
    x.insert(x.end(), rest.begin(), rest.end());
    const std::vector<int16_t> pcm = test::SineInt16(16000, test::kTruncatedPresentFrames, 440.0, 0.5);
    REQUIRE(x.size() == pcm.size());
    for (size_t i = 0; i < x.size(); ++i) REQUIRE(x[i] == pcm[i] / 32768.0f);
    CHECK(reader.Truncated());
    CHECK(reader.TruncationMessage() ==
          path + ": truncated: header declares 16000 frames (1.000 s) but only 500 (0.031 s) could be read");

    // Resampled: the length follows the frames actually read.
    AudioFileReader resampled(path, WithRate(8000.0));
    CHECK(ReadAllBlocks(resampled).size() == 250);
    CHECK(resampled.Truncated());
  }
  SECTION("FLAC cut in half: the stream ends, the reader ends normally") {
    const std::string path = test::WriteTruncatedFlac(tmp.path());
    CHECK(ProbeAudioFile(path).frames == 48000);  // STREAMINFO still claims all of it
    AudioFileReader reader(path);
    const std::vector<float> x = ReadAllBlocks(reader);
    CHECK(x.size() > 8000);
    CHECK(x.size() < 48000);
    CHECK(FitSine(x, 0.5, 440.0, 16000.0, 0).max_error < 5e-5);  // what was decoded is right
    CHECK(reader.Truncated());
    CHECK_THAT(reader.TruncationMessage(),
               StartsWith(path + ": truncated: header declares 48000 frames (3.000 s)"));
    CHECK_THAT(reader.TruncationMessage(), Contains("(libFLAC: the stream ends there)"));
  }
  SECTION("a WAV claiming 37 hours is read under a 48-hour limit: the 0.1 s present, flagged") {
    // The declared length, not the clamped one, is held against max_duration_s.
    const std::string path = test::WriteHugeDurationWav(tmp.path());
    AudioReadConfig config;
    config.max_duration_s = 48 * 3600.0;
    AudioFileReader reader(path, config);  // allowed now: 37.3 h < 48 h
    const std::vector<float> x = ReadAllBlocks(reader);
    CHECK(x.size() == 1600);
    CHECK(reader.Truncated());
    CHECK_THAT(reader.TruncationMessage(), Contains("header declares 2147483640 frames"));
  }
}

// Reads a file's bytes.
std::vector<uint8_t> BytesOf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_CASE("Damaged FLAC frames come out as silence, everything else as written and on time",
          "[audio-file-reader]") {
  ScopedTempDir tmp;
  // 3 s of a 16-bit sine (libsndfile writes 4096-frame FLAC blocks); 32 bytes damaged at a quarter, half or
  // three quarters of the file (a frame's header or its residual: test::DamageBytes).
  const std::string clean =
      test::WriteSineFile(tmp.path(), "clean.flac", 16000, 1, 3.0, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 440.0, 0.5);
  const std::vector<int16_t> pcm = test::SineInt16(16000, 48000, 440.0, 0.5);
  const std::vector<float> original = ReadAudioFile(clean);
  REQUIRE(original.size() == 48000);
  for (size_t i = 0; i < original.size(); ++i) REQUIRE(original[i] == pcm[i] / 32768.0f);
  const std::vector<uint8_t> clean_bytes = BytesOf(clean);
  const int quarter = GENERATE(1, 2, 3);
  const std::string damaged_bytes = test::DamageBytes(std::string(clean_bytes.begin(), clean_bytes.end()),
                                                      clean_bytes.size() * static_cast<size_t>(quarter) / 4);
  const std::vector<uint8_t> bytes(damaged_bytes.begin(), damaged_bytes.end());
  const std::string damaged = test::WriteBytes(tmp.path(), "damaged.flac", damaged_bytes);
  AudioReadConfig config;
  config.block_frames = GENERATE(int64_t{1000}, int64_t{65536});
  INFO("damage at " << quarter << "/4 of the file, block_frames " << config.block_frames);
  AudioFileReader reader(damaged, config);
  const std::vector<float> x = ReadAllBlocks(reader);
  // Every frame the header declares; the undamaged ones exactly as written, the damaged ones silent.
  REQUIRE(x.size() == original.size());
  size_t differ = 0, first = x.size(), last = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == original[i]) continue;
    ++differ;
    first = std::min(first, i);
    last = i;
    REQUIRE(x[i] == 0.0f);
  }
  CHECK(differ > 0);
  CHECK(last - first < 2 * 4096);  // one or two frames
  CHECK(reader.Damaged());
  CHECK_FALSE(reader.Truncated());
  CHECK_THAT(reader.DamageMessage(), StartsWith(damaged + ": damaged FLAC data: libFLAC reported "));
  CHECK_THAT(reader.DamageMessage(), Contains("damaged frames were decoded as silence"));
  CHECK(reader.Warning() == reader.DamageMessage());
  std::string warning;
  CHECK(ReadAudioFile(damaged, config, &warning) == x);
  CHECK(warning == reader.DamageMessage());
  // From memory: the same samples, the same message under the given name.
  AudioFileReader from_memory(std::span<const uint8_t>(bytes), "mem.flac", config);
  CHECK(ReadAllBlocks(from_memory) == x);
  CHECK_THAT(from_memory.DamageMessage(), StartsWith("mem.flac: damaged FLAC data"));
  // A clean file has no warning.
  AudioFileReader fine(clean);
  ReadAllBlocks(fine);
  CHECK(fine.Warning().empty());
  CHECK_FALSE(fine.Damaged());
}

TEST_CASE("A moved reader carries on where it was", "[audio-file-reader]") {
  ScopedTempDir tmp;
  const std::string path =
      test::WriteSineFile(tmp.path(), "sine.wav", 44100, 2, 0.3, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const std::vector<float> expected = ReadAudioFile(path);
  AudioReadConfig config;
  config.block_frames = 500;
  AudioFileReader first(path, config);
  std::vector<float> x;
  REQUIRE(first.ReadBlock(x));
  AudioFileReader second(std::move(first));
  const std::vector<float> rest = ReadAllBlocks(second);
  x.insert(x.end(), rest.begin(), rest.end());
  CHECK(x == expected);
  CHECK(second.Info().path == path);
}

}  // namespace ossicle
