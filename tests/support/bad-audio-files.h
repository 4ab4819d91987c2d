// Writers for good and deliberately broken audio files, for the reader's unit tests and the end-to-end
// tests of the `ossicle` binary.
//
//   ossicle::test::ScopedTempDir tmp;                           // removed with everything in it
//   std::string bad = ossicle::test::WriteNanFloatWav(tmp.path());
//   CHECK_THROWS_AS(ossicle::ReadAudioFile(bad), ossicle::AudioError);
//
// Every Write... function creates one file in `dir` (which must exist), overwrites an older one of the same
// name, and returns its path as a string. Broken files are written byte by byte (little-endian RIFF), since
// libsndfile refuses to write them; good files of any format go through libsndfile (WriteSineFile).
// Each function documents what the file holds, so a test can assert exact values. Failures to write throw
// std::runtime_error naming the path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ossicle::test {

// A fresh directory under std::filesystem::temp_directory_path(), unique per process and per instance
// ("ossicle-test-<pid>-<random>"), removed recursively by the destructor.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix = "ossicle-test");
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ---- raw WAV bytes
// ------------------------------------------------------------------------------------------

// The fields of a canonical 44-byte WAV header (RIFF, 'fmt ' with 16 bytes, 'data'). The defaults describe
// 16 kHz mono PCM_16. Byte rate and block align are derived from channels and bits unless overridden.
struct RawWavHeader {
  uint16_t format_tag = 1;  // 1 PCM, 3 IEEE float
  uint16_t channels = 1;
  uint32_t sample_rate_hz = 16000;
  uint16_t bits_per_sample = 16;
  std::optional<uint16_t> block_align;          // default channels * bits / 8
  std::optional<uint32_t> declared_data_bytes;  // 'data' chunk size; default: the payload's size
};

// The header (44 bytes) followed by `payload` (no pad byte is added).
std::string MakeRawWav(const RawWavHeader& header, const std::string& payload);
// Writes `bytes` to dir/name exactly; returns the path.
std::string WriteBytes(const std::filesystem::path& dir, const std::string& name, const std::string& bytes);

// Little-endian sample payloads.
std::string Int16Payload(const std::vector<int16_t>& samples);
std::string Float32Payload(const std::vector<float>& samples);

// round(amplitude * 32767 * sin(2 pi frequency_hz n / sample_rate_hz)), n = 0 .. frames - 1.
std::vector<int16_t> SineInt16(int sample_rate_hz, int64_t frames, double frequency_hz, double amplitude);

// A PCM_16 WAV holding exactly `interleaved` (frames x channels); returns the path.
std::string WritePcm16Wav(const std::filesystem::path& dir, const std::string& name, int sample_rate_hz,
                          int channels, const std::vector<int16_t>& interleaved);

// ---- good files through libsndfile ---------------------------------------------------------------------

// amplitude * sin(2 pi frequency_hz (c + 1) t) in channel c (so channels differ), written from doubles with
// `sndfile_format` (e.g. SF_FORMAT_FLAC | SF_FORMAT_PCM_16); round(seconds * sample_rate_hz) frames.
// The file name's extension is up to the caller ("sine.flac"). Returns the path.
std::string WriteSineFile(const std::filesystem::path& dir, const std::string& name, int sample_rate_hz,
                          int channels, double seconds, int sndfile_format, double frequency_hz = 440.0,
                          double amplitude = 0.5);
// The same, under the name the project's brief uses.
inline std::string WriteSineWav(const std::filesystem::path& dir, const std::string& name, int sample_rate_hz,
                                int channels, double seconds, int sndfile_format, double frequency_hz = 440.0,
                                double amplitude = 0.5) {
  return WriteSineFile(dir, name, sample_rate_hz, channels, seconds, sndfile_format, frequency_hz, amplitude);
}

// ---- broken files -----------------------------------------------------------------------------------------

// "not-audio.wav": two lines of ASCII text.
std::string WriteTextFile(const std::filesystem::path& dir);

// "truncated-header.wav": the first 20 bytes of a valid WAV (RIFF header + 'fmt ' chunk header only).
std::string WriteTruncatedHeaderWav(const std::filesystem::path& dir);

// "unknown-format-tag.wav": a complete 16 kHz mono 16-bit WAV whose format tag is 0x1234.
inline constexpr uint16_t kUnknownFormatTag = 0x1234;
std::string WriteUnknownFormatTagWav(const std::filesystem::path& dir);

// "empty-data.wav": a valid 16 kHz mono PCM_16 header with a 0-byte data chunk.
std::string WriteEmptyDataWav(const std::filesystem::path& dir);

// "nan.wav": 1 s of 16 kHz mono IEEE float (a 440 Hz sine, amplitude 0.5) with a NaN at frame 8000
// (t = 0.500 s), channel 0.
inline constexpr int64_t kNanFrame = 8000;
std::string WriteNanFloatWav(const std::filesystem::path& dir);

// "inf.wav": 0.25 s of 16 kHz stereo IEEE float (silence) with +Inf at frame 1234 (t = 0.077 s),
// channel 1, and -Inf at frame 2000, channel 0 (the first bad sample is the one reported).
inline constexpr int64_t kInfFrame = 1234;
inline constexpr int kInfChannel = 1;
std::string WriteInfFloatWav(const std::filesystem::path& dir);

// "zero-rate.wav": 0.1 s of mono PCM_16 samples whose header says 0 Hz.
std::string WriteZeroRateWav(const std::filesystem::path& dir);
// "huge-rate.wav": mono PCM_16 whose header says 1 000 000 Hz (libsndfile accepts it; ossicle does not).
inline constexpr uint32_t kHugeSampleRateHz = 1000000;
std::string WriteHugeRateWav(const std::filesystem::path& dir);
// "zero-channels.wav": a header with 0 channels.
std::string WriteZeroChannelWav(const std::filesystem::path& dir);
// "huge-channels-<n>.wav": PCM_16 with `channels` channels and 10 frames. libsndfile accepts up to 1024
// channels, so the default (1000) reaches ossicle's own limit (256); 65535 is refused by libsndfile first.
std::string WriteHugeChannelCountWav(const std::filesystem::path& dir, uint16_t channels = 1000);

// "huge-duration.wav": 16 kHz mono PCM_16 whose RIFF and data sizes claim 0xFFFFFFF0 bytes
// (2147483640 frames, 37.3 h) while the file holds 0.1 s (1600 frames, 3244 bytes).
inline constexpr int64_t kHugeDurationDeclaredFrames = 2147483640;
std::string WriteHugeDurationWav(const std::filesystem::path& dir);
// "huge-duration.flac": a 0.1 s 16 kHz FLAC whose STREAMINFO claims 2^36 - 1 frames (49.7 days).
// libsndfile trusts that count (unlike a WAV data size), so this is the header a reader must bound.
inline constexpr int64_t kHugeDurationFlacFrames = (int64_t{1} << 36) - 1;
std::string WriteHugeDurationFlac(const std::filesystem::path& dir);

// "truncated-data.wav": 16 kHz mono PCM_16 whose data chunk declares 16000 frames (1 s) while the file
// ends after 500 frames and one odd byte (SineInt16(16000, 500, 440, 0.5) then 0x00).
inline constexpr int64_t kTruncatedDeclaredFrames = 16000;
inline constexpr int64_t kTruncatedPresentFrames = 500;
std::string WriteTruncatedDataWav(const std::filesystem::path& dir);
// "truncated.flac": 3 s of 16 kHz mono FLAC (440 Hz sine) cut to half its bytes; STREAMINFO still says
// 48000 frames, the decoder loses sync part-way.
std::string WriteTruncatedFlac(const std::filesystem::path& dir);
// `bytes` (a file's) with the 32 bytes from `at` (clamped to the end) XORed with 0x5A: inside a FLAC stream,
// one or two damaged frames (libFLAC reports them; the reader decodes them as silence).
std::string DamageBytes(std::string bytes, size_t at);
// `name`: `seconds` of 16 kHz mono 16-bit FLAC (a `frequency_hz` sine at `amplitude`, as WriteSineFile) with
// the 32 bytes from the middle of the file damaged (DamageBytes). Returns the path.
std::string WriteDamagedFlac(const std::filesystem::path& dir, const std::string& name, double seconds = 1.0,
                             double frequency_hz = 440.0, double amplitude = 0.5);

}  // namespace ossicle::test
