// Reads an audio file as a stream of mono float samples at a chosen sample rate.
//
//   ossicle::AudioReadConfig config;                       // 16 kHz, channels averaged
//   ossicle::AudioFileReader reader("speech.flac", config);
//   std::vector<float> block;
//   while (reader.ReadBlock(block)) extractor.AcceptWaveform(reader.OutputSampleRateHz(), block);
//   if (reader.Truncated()) log.warn(reader.TruncationMessage());
//
// or, for short files: `std::vector<float> x = ossicle::ReadAudioFile("speech.wav");`
//
// Formats: whatever libsndfile 1.2 decodes — WAV (PCM 8/16/24/32, float, double, A-law, mu-law, ADPCM),
// FLAC (decoded by libFLAC: below), Ogg/Vorbis, Ogg/Opus, AIFF, CAF, W64, RF64, AU, ... The reader never loads the whole file: it holds
// one block of `block_frames` input frames (all channels) plus the resampler's state.
//
// Sample values: integer PCM comes out scaled by 1 / 2^(bits-1), so it lies in [-1, 1) and PCM_16 sample s
// reads back as exactly s / 32768.0f. Float and double files are passed through unscaled and unclipped
// (a float file may hold values beyond +-1; they are kept). Lossy codecs decode to float.
//
// Channels: kAverage takes the mean of all channels (exactly (L + R) / 2 for stereo; a mono file passes
// through untouched); kSelect takes channel `channel` (0-based).
//
// Resampling: only when the file's rate differs from `sample_rate_hz` (a same-rate file is bit-exact).
// soxr with SOXR_HQ (soxr.h: 20-bit precision, linear phase, flat to 0.913 of the lower Nyquist frequency),
// single-threaded. soxr removes its own filter delay, so output sample n is the input at
// t = n / OutputSampleRateHz(). Contract:
//   * the output length is exactly llround(frames_read * out_rate / in_rate) (halves round up), where
//     frames_read is the number of frames actually decoded (== Info().frames unless Truncated());
//     soxr 0.1.3 delivers that count by itself; the reader trims or zero-pads the flushed tail so the
//     contract holds with other soxr versions too;
//   * the output does not depend on block_frames (any chunking gives bit-identical samples).
//
// Errors (all AudioError, message "<path>: <problem>", checked in this order by ProbeAudioFile and by the
// reader's constructor, before anything proportional to the header is allocated):
//   "<path>: cannot open: No such file or directory"   (or "Permission denied", ...)
//   "<path>: is a directory, not an audio file"         / "<path>: is not a regular file" (FIFO, device)
//   "<path>: truncated header: <which chunk needs how many bytes and where the file ends>"   (WAV)
//   "<path>: header declares 0 channels; expected 1 to 256"
//   "<path>: header declares sample rate 0 Hz; expected 1 to 768000 Hz"
//   "<path>: unsupported encoding: WAV format tag 0x1234 is not one libsndfile decodes"
//   "<path>: not a recognised audio file (libsndfile: Format not recognised.)"
//   "<path>: cannot open as audio (libsndfile: <its message>)"   (anything libsndfile refuses otherwise)
//   "<path>: contains no audio (0 frames)"
//   "<path>: duration 134217.7 s exceeds the limit of 86400 s (audio.max_duration_s): header declares
//            2147483640 frames at 16000 Hz"
// and, while reading (ReadBlock), for float/double files:
//   "<path>: sample 8000 (t = 0.500 s, channel 0) is NaN; expected finite sample values"   (or +Inf / -Inf)
// where "sample" is the frame index at the file's rate and t = sample / file rate. A selected channel out
// of range is a ConfigError: "audio.channel = 2; expected < 2 (the channel count of <path>)".
//
// Truncated data: a file whose audio ends before its header says — a WAV data chunk cut short (a recorder
// that crashed, an interrupted copy) or a FLAC/Ogg stream that ends or fails to decode part-way — is NOT an
// error: the reader returns every complete frame that could be decoded, then ends normally. Truncated()
// then becomes true and TruncationMessage() says what happened, so the caller can warn. (libsndfile itself
// clamps a WAV data chunk to the file size; AudioInfo::declared_frames keeps what the header claimed.)
//
// FLAC files are opened and checked by libsndfile but decoded by libFLAC itself (pipeline/flac-decoder.h):
// libsndfile stops at the first damaged frame (a flipped bit, a bad block) or drops samples silently, while
// libFLAC goes on, a frame whose checksum fails comes out as silence of its length, and frames lost whole
// are filled with silence, so the file keeps its duration and everything undamaged keeps its time.
// Damaged() and DamageMessage() say so; Truncated() stays false unless the stream ends before the header's
// frame count. (The 14 damaged "alexa" recordings of ../shared/data/wake-words lost 35-80% of their audio to
// libsndfile's decoding before the nineteenth session.)
//
// Thread safety: a reader is used from one thread at a time; separate readers are independent.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

// How several channels become the one the pipeline uses.
enum class ChannelMode { kAverage, kSelect };

template <>
struct EnumNames<ChannelMode> {
  static constexpr std::array kValues{
      std::pair{ChannelMode::kAverage, std::string_view{"average"}},
      std::pair{ChannelMode::kSelect, std::string_view{"select"}},
  };
};

// Limits on header values; anything beyond is refused as absurd before it is trusted.
inline constexpr int kMaxAudioChannels = 256;
inline constexpr int kMaxAudioSampleRateHz = 768000;               // the highest rate common converters offer
inline constexpr int64_t kMaxAudioBlockFrames = int64_t{1} << 24;  // 16 Mi frames; x 256 ch x 4 B = 16 GiB

struct AudioReadConfig {
  double sample_rate_hz = 16000.0;  // output rate; 0 keeps the file's own rate
  ChannelMode channel_mode = ChannelMode::kAverage;
  int channel = 0;               // 0-based; used with kSelect; must be < the file's channel count
  int64_t block_frames = 65536;  // input frames decoded per block: memory is block_frames x channels floats
  double max_duration_s = 24 * 3600.0;  // files whose header declares more are refused before reading

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"sample_rate_hz", "Hz", "output sample rate; 0 keeps the file's own rate"},
      self.sample_rate_hz);
    v(FieldInfo{"channel_mode", "", "how channels become mono: average (mean of all) or select (one)"},
      self.channel_mode);
    v(FieldInfo{"channel", "", "0-based channel taken when channel_mode = select"}, self.channel);
    v(FieldInfo{"block_frames", "frames", "input frames decoded per block (bounds memory)"},
      self.block_frames);
    v(FieldInfo{"max_duration_s", "s", "files whose header declares a longer duration are refused"},
      self.max_duration_s);
  }

  // Throws ConfigError ("audio.block_frames = 0; expected in [1, 16777216]") for:
  //   sample_rate_hz not 0 and not in [1, 768000]; channel < 0; block_frames not in [1, 2^24];
  //   max_duration_s not finite and > 0.
  // `path` is the key path of this struct in the YAML configuration.
  void Validate(std::string_view path = "audio") const;
};

struct AudioInfo {
  std::string path;
  std::string container;        // "WAV", "FLAC", "OGG", "AIFF", "CAF", "W64", "RF64", ...
  std::string encoding;         // "PCM_16", "PCM_24", "PCM_U8", "FLOAT", "DOUBLE", "VORBIS", "OPUS", ...
  int sample_rate_hz = 0;       // in [1, 768000]
  int channels = 0;             // in [1, 256]
  int64_t frames = 0;           // per channel, at the file's rate, as libsndfile will deliver them (> 0)
  int64_t declared_frames = 0;  // what the header claims: for PCM/float WAV the data chunk size / block
                                // align (0xFFFFFFFF "unknown length" placeholders ignored); otherwise
                                // == frames. > frames when the data chunk was cut short.
  double duration_s = 0.0;      // frames / sample_rate_hz

  bool HeaderClaimsMore() const { return declared_frames > frames; }
};

// Opens `path`, checks its header (see the error list above, duration limit `max_duration_s`), closes it.
// Reads no samples, so NaN samples are found only by the reader. Throws AudioError.
AudioInfo ProbeAudioFile(const std::string& path, double max_duration_s = AudioReadConfig{}.max_duration_s);

// Streaming reader: one open file, one block of input, one resampler.
class AudioFileReader {
 public:
  // Validates `config` (ConfigError), probes the file (AudioError) and checks `config.channel` against
  // the file's channels (ConfigError naming audio.channel).
  explicit AudioFileReader(const std::string& path, const AudioReadConfig& config = {});
  // The same for a file already in memory (`bytes` is copied), decoded through libsndfile's virtual I/O:
  // the same checks and errors, with `name_for_messages` standing in for the path (in Info().path too).
  // The entry point for fuzzing (tests/fuzz/audio-fuzzer.cc).
  AudioFileReader(std::span<const uint8_t> bytes, const std::string& name_for_messages,
                  const AudioReadConfig& config = {});
  ~AudioFileReader();
  AudioFileReader(const AudioFileReader&) = delete;
  AudioFileReader& operator=(const AudioFileReader&) = delete;
  // A moved-from reader may only be destroyed or assigned to.
  AudioFileReader(AudioFileReader&&) noexcept;
  AudioFileReader& operator=(AudioFileReader&&) noexcept;

  const AudioInfo& Info() const;
  // config.sample_rate_hz, or the file's rate when that is 0.
  double OutputSampleRateHz() const;
  bool Resampling() const;

  // Clears `out` and fills it with the next samples: mono, float, at OutputSampleRateHz(). Returns true
  // with a non-empty `out` (at most about block_frames x out/in + the resampler's tail), or false with an
  // empty `out` once the file is exhausted and the resampler flushed; further calls keep returning false.
  // Throws AudioError for a NaN/Inf sample; the reader is then failed and every later call throws the
  // same error.
  bool ReadBlock(std::vector<float>& out);

  int64_t InputFramesRead() const;    // frames decoded so far, at the file's rate
  int64_t OutputSamplesRead() const;  // samples returned so far, at the output rate

  // True once reading has found fewer frames than the header declares (see "Truncated data" above);
  // final only after ReadBlock() has returned false. TruncationMessage() is then e.g.
  // "<path>: truncated: header declares 16000 frames (1.000 s) but only 500 (0.031 s) could be read",
  // with libsndfile's decoder message appended when it reported one; empty otherwise.
  bool Truncated() const;
  const std::string& TruncationMessage() const;
  // True once libFLAC reported damage in a FLAC file (see "FLAC files" above); final only after ReadBlock()
  // has returned false. DamageMessage() is then e.g. "<path>: damaged FLAC data: libFLAC reported 10 errors
  // (FRAME_CRC_MISMATCH) between 0.360 s and 0.792 s; damaged frames were decoded as silence"; "" otherwise.
  bool Damaged() const;
  const std::string& DamageMessage() const;
  // What a caller should warn about once reading is done: the damage and/or the truncation message ("" when
  // the file decoded cleanly).
  std::string Warning() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads the whole file with an AudioFileReader (same contract, same errors). `warning` (optional) receives
// the reader's Warning(): "" for a clean file, else what was damaged or truncated.
std::vector<float> ReadAudioFile(const std::string& path, const AudioReadConfig& config = {},
                                 std::string* warning = nullptr);

}  // namespace ossicle
