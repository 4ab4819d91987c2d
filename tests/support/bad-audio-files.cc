#include "support/bad-audio-files.h"

#include <algorithm>
#include <sndfile.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <limits>
#include <numbers>
#include <random>
#include <stdexcept>
#include <system_error>

namespace ossicle::test {

namespace fs = std::filesystem;

namespace {

void Put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>(v >> 8));
}

void Put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot read back test file");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

ScopedTempDir::ScopedTempDir(const std::string& prefix) {
  std::random_device device;
  std::mt19937_64 rng((uint64_t{device()} << 32) ^ device());
  for (int attempt = 0; attempt < 100; ++attempt) {
    const fs::path candidate =
        fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(rng()));
    std::error_code ec;
    if (fs::create_directory(candidate, ec)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory under " + fs::temp_directory_path().string());
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ec;  // never throw from a destructor; a leftover directory is harmless
  fs::remove_all(path_, ec);
}

std::string MakeRawWav(const RawWavHeader& h, const std::string& payload) {
  const uint16_t block_align =
      h.block_align.value_or(static_cast<uint16_t>(h.channels * h.bits_per_sample / 8));
  const uint32_t data_bytes = h.declared_data_bytes.value_or(static_cast<uint32_t>(payload.size()));
  std::string s = "RIFF";
  // RIFF size = everything after these 8 bytes; wraps (as a broken writer's would) for huge claims.
  Put32(s, static_cast<uint32_t>(36u + data_bytes));
  s += "WAVE";
  s += "fmt ";
  Put32(s, 16);
  Put16(s, h.format_tag);
  Put16(s, h.channels);
  Put32(s, h.sample_rate_hz);
  Put32(s, h.sample_rate_hz * block_align);  // byte rate
  Put16(s, block_align);
  Put16(s, h.bits_per_sample);
  s += "data";
  Put32(s, data_bytes);
  s += payload;
  return s;
}

std::string WriteBytes(const fs::path& dir, const std::string& name, const std::string& bytes) {
  const fs::path path = dir / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error(path.string() + ": cannot write test file");
  return path.string();
}

std::string Int16Payload(const std::vector<int16_t>& samples) {
  std::string s;
  s.reserve(samples.size() * 2);
  for (int16_t v : samples) Put16(s, static_cast<uint16_t>(v));
  return s;
}

std::string Float32Payload(const std::vector<float>& samples) {
  std::string s;
  s.reserve(samples.size() * 4);
  for (float v : samples) Put32(s, std::bit_cast<uint32_t>(v));
  return s;
}

std::vector<int16_t> SineInt16(int sample_rate_hz, int64_t frames, double frequency_hz, double amplitude) {
  std::vector<int16_t> out(static_cast<size_t>(frames));
  for (int64_t n = 0; n < frames; ++n) {
    const double x =
        amplitude * 32767.0 *
        std::sin(2.0 * std::numbers::pi * frequency_hz * static_cast<double>(n) / sample_rate_hz);
    out[static_cast<size_t>(n)] = static_cast<int16_t>(std::lround(x));
  }
  return out;
}

std::string WritePcm16Wav(const fs::path& dir, const std::string& name, int sample_rate_hz, int channels,
                          const std::vector<int16_t>& interleaved) {
  RawWavHeader h;
  h.channels = static_cast<uint16_t>(channels);
  h.sample_rate_hz = static_cast<uint32_t>(sample_rate_hz);
  return WriteBytes(dir, name, MakeRawWav(h, Int16Payload(interleaved)));
}

std::string WriteSineFile(const fs::path& dir, const std::string& name, int sample_rate_hz, int channels,
                          double seconds, int sndfile_format, double frequency_hz, double amplitude) {
  const fs::path path = dir / name;
  SF_INFO info{};
  info.samplerate = sample_rate_hz;
  info.channels = channels;
  info.format = sndfile_format;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  if (file == nullptr) {
    throw std::runtime_error(path.string() + ": libsndfile cannot write it: " + sf_strerror(nullptr));
  }
  const int64_t frames = std::llround(seconds * sample_rate_hz);
  const size_t ch = static_cast<size_t>(channels);
  std::vector<double> x(static_cast<size_t>(frames) * ch);
  for (int64_t n = 0; n < frames; ++n) {
    const double t = static_cast<double>(n) / sample_rate_hz;
    for (size_t c = 0; c < ch; ++c) {
      x[static_cast<size_t>(n) * ch + c] =
          amplitude * std::sin(2.0 * std::numbers::pi * frequency_hz * static_cast<double>(c + 1) * t);
    }
  }
  const sf_count_t written = sf_writef_double(file, x.data(), frames);
  const int close_error = sf_close(file);
  if (written != frames || close_error != 0) {
    throw std::runtime_error(path.string() + ": libsndfile wrote " + std::to_string(written) + " of " +
                             std::to_string(frames) + " frames");
  }
  return path.string();
}

std::string WriteTextFile(const fs::path& dir) {
  return WriteBytes(dir, "not-audio.wav",
                    "This is a text file, not audio.\nIt only has a .wav name to fool the extension.\n");
}

std::string WriteTruncatedHeaderWav(const fs::path& dir) {
  const std::string full = MakeRawWav(RawWavHeader{}, Int16Payload(SineInt16(16000, 1600, 440.0, 0.5)));
  return WriteBytes(dir, "truncated-header.wav", full.substr(0, 20));
}

std::string WriteUnknownFormatTagWav(const fs::path& dir) {
  RawWavHeader h;
  h.format_tag = kUnknownFormatTag;
  return WriteBytes(dir, "unknown-format-tag.wav",
                    MakeRawWav(h, Int16Payload(SineInt16(16000, 1600, 440.0, 0.5))));
}

std::string WriteEmptyDataWav(const fs::path& dir) {
  return WriteBytes(dir, "empty-data.wav", MakeRawWav(RawWavHeader{}, ""));
}

std::string WriteNanFloatWav(const fs::path& dir) {
  std::vector<float> x(16000);
  for (size_t n = 0; n < x.size(); ++n) {
    x[n] =
        static_cast<float>(0.5 * std::sin(2.0 * std::numbers::pi * 440.0 * static_cast<double>(n) / 16000.0));
  }
  x[static_cast<size_t>(kNanFrame)] = std::numeric_limits<float>::quiet_NaN();
  RawWavHeader h;
  h.format_tag = 3;
  h.bits_per_sample = 32;
  return WriteBytes(dir, "nan.wav", MakeRawWav(h, Float32Payload(x)));
}

std::string WriteInfFloatWav(const fs::path& dir) {
  std::vector<float> x(4000 * 2, 0.0f);
  x[static_cast<size_t>(kInfFrame) * 2 + kInfChannel] = std::numeric_limits<float>::infinity();
  x[2000 * 2 + 0] = -std::numeric_limits<float>::infinity();
  RawWavHeader h;
  h.format_tag = 3;
  h.channels = 2;
  h.bits_per_sample = 32;
  return WriteBytes(dir, "inf.wav", MakeRawWav(h, Float32Payload(x)));
}

std::string WriteZeroRateWav(const fs::path& dir) {
  RawWavHeader h;
  h.sample_rate_hz = 0;
  return WriteBytes(dir, "zero-rate.wav", MakeRawWav(h, Int16Payload(SineInt16(16000, 1600, 440.0, 0.5))));
}

std::string WriteHugeRateWav(const fs::path& dir) {
  RawWavHeader h;
  h.sample_rate_hz = kHugeSampleRateHz;
  return WriteBytes(dir, "huge-rate.wav", MakeRawWav(h, Int16Payload(SineInt16(16000, 1600, 440.0, 0.5))));
}

std::string WriteZeroChannelWav(const fs::path& dir) {
  RawWavHeader h;
  h.channels = 0;
  h.block_align = 2;  // keep the byte rate non-zero: only the channel count is wrong
  return WriteBytes(dir, "zero-channels.wav",
                    MakeRawWav(h, Int16Payload(SineInt16(16000, 1600, 440.0, 0.5))));
}

std::string WriteHugeChannelCountWav(const fs::path& dir, uint16_t channels) {
  RawWavHeader h;
  h.channels = channels;
  h.block_align = static_cast<uint16_t>(2u * channels);  // wraps for > 32767 channels, as a broken writer's
  const std::vector<int16_t> samples(static_cast<size_t>(channels) * 10, 0);
  return WriteBytes(dir, "huge-channels-" + std::to_string(channels) + ".wav",
                    MakeRawWav(h, Int16Payload(samples)));
}

std::string WriteHugeDurationWav(const fs::path& dir) {
  RawWavHeader h;
  h.declared_data_bytes = static_cast<uint32_t>(kHugeDurationDeclaredFrames * 2);
  return WriteBytes(dir, "huge-duration.wav",
                    MakeRawWav(h, Int16Payload(SineInt16(16000, 1600, 440.0, 0.5))));
}

std::string WriteHugeDurationFlac(const fs::path& dir) {
  const std::string good =
      WriteSineFile(dir, "huge-duration-source.flac", 16000, 1, 0.1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  std::string bytes = ReadAll(good);
  fs::remove(good);
  // "fLaC", then the STREAMINFO block header (4 bytes), then STREAMINFO: min/max block size (2 + 2),
  // min/max frame size (3 + 3), then 64 bits = sample rate (20) | channels - 1 (3) | bits - 1 (5) |
  // total samples (36). Set the 36 low bits.
  constexpr size_t kPacked = 4 + 4 + 10;
  if (bytes.size() < kPacked + 8 || bytes.compare(0, 4, "fLaC") != 0) {
    throw std::runtime_error(good + ": libsndfile did not write a FLAC stream that starts with STREAMINFO");
  }
  uint64_t packed = 0;
  for (size_t i = 0; i < 8; ++i) packed = packed << 8 | static_cast<uint8_t>(bytes[kPacked + i]);
  packed |= static_cast<uint64_t>(kHugeDurationFlacFrames);
  for (size_t i = 0; i < 8; ++i) bytes[kPacked + 7 - i] = static_cast<char>((packed >> (8 * i)) & 0xFF);
  return WriteBytes(dir, "huge-duration.flac", bytes);
}

std::string WriteTruncatedDataWav(const fs::path& dir) {
  RawWavHeader h;
  h.declared_data_bytes = static_cast<uint32_t>(kTruncatedDeclaredFrames * 2);
  std::string payload = Int16Payload(SineInt16(16000, kTruncatedPresentFrames, 440.0, 0.5));
  payload.push_back('\0');  // half a sample: the cut rarely falls on a frame boundary
  return WriteBytes(dir, "truncated-data.wav", MakeRawWav(h, payload));
}

std::string WriteTruncatedFlac(const fs::path& dir) {
  const std::string good =
      WriteSineFile(dir, "truncated-source.flac", 16000, 1, 3.0, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  const std::string bytes = ReadAll(good);
  fs::remove(good);
  return WriteBytes(dir, "truncated.flac", bytes.substr(0, bytes.size() / 2));
}

std::string DamageBytes(std::string bytes, size_t at) {
  for (size_t i = at; i < std::min(at + 32, bytes.size()); ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5A);
  return bytes;
}

std::string WriteDamagedFlac(const fs::path& dir, const std::string& name, double seconds, double frequency_hz,
                             double amplitude) {
  const std::string good = WriteSineFile(dir, name + ".clean.flac", 16000, 1, seconds,
                                         SF_FORMAT_FLAC | SF_FORMAT_PCM_16, frequency_hz, amplitude);
  const std::string bytes = ReadAll(good);
  fs::remove(good);
  return WriteBytes(dir, name, DamageBytes(bytes, bytes.size() / 2));
}

}  // namespace ossicle::test
