#include "pipeline/audio-file-reader.h"

#include <fmt/format.h>
#include <sndfile.h>
#include <soxr.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <system_error>

#include "features/errors.h"
#include "pipeline/flac-decoder.h"
#include "pipeline/soxr-handle.h"

namespace ossicle {

namespace {

[[noreturn]] void Fail(const std::string& path, std::string_view problem) {
  throw AudioError(fmt::format("{}: {}", path, problem));
}

// ---------------------------------------------------------------------------------------------------------
// Names for AudioInfo.

std::string ContainerName(int format) {
  switch (format & SF_FORMAT_TYPEMASK) {
    case SF_FORMAT_WAV:
      return "WAV";
    case SF_FORMAT_WAVEX:
      return "WAV";  // WAVE_FORMAT_EXTENSIBLE is still a WAV file
    case SF_FORMAT_AIFF:
      return "AIFF";
    case SF_FORMAT_AU:
      return "AU";
    case SF_FORMAT_RAW:
      return "RAW";
    case SF_FORMAT_PAF:
      return "PAF";
    case SF_FORMAT_SVX:
      return "SVX";
    case SF_FORMAT_NIST:
      return "NIST";
    case SF_FORMAT_VOC:
      return "VOC";
    case SF_FORMAT_IRCAM:
      return "IRCAM";
    case SF_FORMAT_W64:
      return "W64";
    case SF_FORMAT_MAT4:
      return "MAT4";
    case SF_FORMAT_MAT5:
      return "MAT5";
    case SF_FORMAT_PVF:
      return "PVF";
    case SF_FORMAT_XI:
      return "XI";
    case SF_FORMAT_HTK:
      return "HTK";
    case SF_FORMAT_SDS:
      return "SDS";
    case SF_FORMAT_AVR:
      return "AVR";
    case SF_FORMAT_SD2:
      return "SD2";
    case SF_FORMAT_FLAC:
      return "FLAC";
    case SF_FORMAT_CAF:
      return "CAF";
    case SF_FORMAT_WVE:
      return "WVE";
    case SF_FORMAT_OGG:
      return "OGG";
    case SF_FORMAT_MPC2K:
      return "MPC2K";
    case SF_FORMAT_RF64:
      return "RF64";
    case SF_FORMAT_MPEG:
      return "MPEG";
    default:
      return fmt::format("0x{:06x}", format & SF_FORMAT_TYPEMASK);
  }
}

std::string EncodingName(int format) {
  switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8:
      return "PCM_S8";
    case SF_FORMAT_PCM_16:
      return "PCM_16";
    case SF_FORMAT_PCM_24:
      return "PCM_24";
    case SF_FORMAT_PCM_32:
      return "PCM_32";
    case SF_FORMAT_PCM_U8:
      return "PCM_U8";
    case SF_FORMAT_FLOAT:
      return "FLOAT";
    case SF_FORMAT_DOUBLE:
      return "DOUBLE";
    case SF_FORMAT_ULAW:
      return "ULAW";
    case SF_FORMAT_ALAW:
      return "ALAW";
    case SF_FORMAT_IMA_ADPCM:
      return "IMA_ADPCM";
    case SF_FORMAT_MS_ADPCM:
      return "MS_ADPCM";
    case SF_FORMAT_GSM610:
      return "GSM610";
    case SF_FORMAT_VOX_ADPCM:
      return "VOX_ADPCM";
    case SF_FORMAT_NMS_ADPCM_16:
      return "NMS_ADPCM_16";
    case SF_FORMAT_NMS_ADPCM_24:
      return "NMS_ADPCM_24";
    case SF_FORMAT_NMS_ADPCM_32:
      return "NMS_ADPCM_32";
    case SF_FORMAT_G721_32:
      return "G721_32";
    case SF_FORMAT_G723_24:
      return "G723_24";
    case SF_FORMAT_G723_40:
      return "G723_40";
    case SF_FORMAT_DWVW_12:
      return "DWVW_12";
    case SF_FORMAT_DWVW_16:
      return "DWVW_16";
    case SF_FORMAT_DWVW_24:
      return "DWVW_24";
    case SF_FORMAT_DWVW_N:
      return "DWVW_N";
    case SF_FORMAT_DPCM_8:
      return "DPCM_8";
    case SF_FORMAT_DPCM_16:
      return "DPCM_16";
    case SF_FORMAT_VORBIS:
      return "VORBIS";
    case SF_FORMAT_OPUS:
      return "OPUS";
    case SF_FORMAT_ALAC_16:
      return "ALAC_16";
    case SF_FORMAT_ALAC_20:
      return "ALAC_20";
    case SF_FORMAT_ALAC_24:
      return "ALAC_24";
    case SF_FORMAT_ALAC_32:
      return "ALAC_32";
    case SF_FORMAT_MPEG_LAYER_I:
      return "MPEG_LAYER_I";
    case SF_FORMAT_MPEG_LAYER_II:
      return "MPEG_LAYER_II";
    case SF_FORMAT_MPEG_LAYER_III:
      return "MPEG_LAYER_III";
    default:
      return fmt::format("0x{:04x}", format & SF_FORMAT_SUBMASK);
  }
}

// ---------------------------------------------------------------------------------------------------------
// A minimal walk over a RIFF/WAVE header. libsndfile's own messages for a broken WAV are generic
// ("Malformed 'fmt ' chunk.", "SF_INFO struct incomplete."), so when it refuses a WAV file this scan names
// the actual problem; when it accepts one, the scan recovers the data chunk size the header declared
// (libsndfile silently clamps it to the file size). It reads at most 12 + 8 per chunk + 16 bytes.

constexpr uint32_t kUnknownLengthPlaceholder = 0xFFFFFFFFu;  // written by streaming recorders
constexpr int kMaxChunksScanned = 4096;  // a header with more chunks before 'data' is not worth diagnosing

struct WavScan {
  bool riff_wave = false;
  std::string truncated;  // why the header ends early; empty when complete
  bool has_fmt = false;
  uint16_t format_tag = 0;
  uint16_t channels = 0;
  uint32_t sample_rate_hz = 0;
  uint16_t block_align = 0;
  bool has_data = false;
  uint32_t data_bytes = 0;
};

uint32_t Le32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint16_t Le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

// Reads exactly n bytes at `offset` of the file (on disk or in memory); false when they are not there.
using ReadAt = std::function<bool(uint64_t offset, unsigned char* buf, size_t n)>;

WavScan ScanWavHeader(const ReadAt& read_at, uint64_t file_size) {
  WavScan scan;
  unsigned char head[12] = {};
  const size_t head_n = static_cast<size_t>(std::min<uint64_t>(file_size, 12));
  if (head_n < 4 || !read_at(0, head, head_n) || std::memcmp(head, "RIFF", 4) != 0) return scan;
  if (head_n < 12) {
    scan.riff_wave = true;  // "RIFF" and nothing else: most likely a WAV cut inside its first 12 bytes
    scan.truncated = fmt::format("the file ends at byte {}, inside the 12-byte RIFF/WAVE header", file_size);
    return scan;
  }
  if (std::memcmp(head + 8, "WAVE", 4) != 0) return scan;  // another RIFF type (AVI, ...)
  scan.riff_wave = true;

  uint64_t pos = 12;
  for (int i = 0; i < kMaxChunksScanned && !scan.has_data; ++i) {
    if (pos + 8 > file_size) {
      scan.truncated =
          pos >= file_size
              ? fmt::format("the file ends at byte {} before a {} chunk", file_size,
                            scan.has_fmt ? "'data'" : "'fmt '")
              : fmt::format("the chunk header at byte {} needs 8 bytes but the file ends at byte {}", pos,
                            file_size);
      return scan;
    }
    unsigned char chunk[8];
    if (!read_at(pos, chunk, 8)) return scan;
    const uint32_t size = Le32(chunk + 4);
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      constexpr uint64_t kFmtBytes = 16;  // tag, channels, rate, byte rate, block align, bits
      if (pos + 8 + kFmtBytes > file_size) {
        scan.truncated =
            fmt::format("the 'fmt ' chunk at byte {} needs {} bytes but the file ends at byte {}", pos,
                        8 + kFmtBytes, file_size);
        return scan;
      }
      unsigned char body[kFmtBytes];
      if (!read_at(pos + 8, body, kFmtBytes)) return scan;
      scan.has_fmt = true;
      scan.format_tag = Le16(body);
      scan.channels = Le16(body + 2);
      scan.sample_rate_hz = Le32(body + 4);
      scan.block_align = Le16(body + 12);
    } else if (std::memcmp(chunk, "data", 4) == 0) {
      scan.has_data = true;
      scan.data_bytes = size;
    }
    pos += 8 + uint64_t{size} + (size & 1u);  // chunks are padded to an even length
  }
  return scan;
}

// WAV format tags libsndfile 1.2 decodes (wav.c / wavlike.c).
bool LibsndfileDecodesWavTag(uint16_t tag) {
  switch (tag) {
    case 0x0001:  // PCM
    case 0x0002:  // MS ADPCM
    case 0x0003:  // IEEE float
    case 0x0006:  // A-law
    case 0x0007:  // mu-law
    case 0x0011:  // IMA ADPCM
    case 0x0031:  // GSM 6.10
    case 0x0040:  // G.721 ADPCM
    case 0x0055:  // MPEG layer III
    case 0xFFFE:  // WAVE_FORMAT_EXTENSIBLE
      return true;
    default:
      return false;
  }
}

void CheckChannels(const std::string& path, int64_t channels) {
  if (channels < 1 || channels > kMaxAudioChannels) {
    Fail(path, fmt::format("header declares {} channels; expected 1 to {}", channels, kMaxAudioChannels));
  }
}

void CheckSampleRate(const std::string& path, int64_t rate) {
  if (rate < 1 || rate > kMaxAudioSampleRateHz) {
    Fail(path,
         fmt::format("header declares sample rate {} Hz; expected 1 to {} Hz", rate, kMaxAudioSampleRateHz));
  }
}

// Called when sf_open() refused the file: names the problem as precisely as the bytes allow.
[[noreturn]] void DiagnoseOpenFailure(const std::string& path, const ReadAt& read_at, uint64_t file_size,
                                      int sf_errno, const std::string& sf_message) {
  const WavScan scan = ScanWavHeader(read_at, file_size);
  if (scan.riff_wave) {
    if (!scan.truncated.empty()) Fail(path, "truncated header: " + scan.truncated);
    if (scan.has_fmt) {
      CheckChannels(path, scan.channels);
      CheckSampleRate(path, scan.sample_rate_hz);
      if (!LibsndfileDecodesWavTag(scan.format_tag)) {
        Fail(path, fmt::format("unsupported encoding: WAV format tag 0x{:04x} is not one libsndfile decodes",
                               scan.format_tag));
      }
    }
  }
  if (sf_errno == SF_ERR_UNRECOGNISED_FORMAT) {
    Fail(path, fmt::format("not a recognised audio file (libsndfile: {})", sf_message));
  }
  if (sf_errno == SF_ERR_UNSUPPORTED_ENCODING) {
    Fail(path, fmt::format("unsupported encoding (libsndfile: {})", sf_message));
  }
  Fail(path, fmt::format("cannot open as audio (libsndfile: {})", sf_message));
}

// Up to n bytes of `in` from `offset` (fewer at the end); how many were read.
size_t ReadStreamAt(std::istream& in, uint64_t offset, unsigned char* buf, size_t n) {
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(buf), static_cast<std::streamsize>(n));
  return static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0));
}

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

struct OpenedFile {
  SndfilePtr file;
  AudioInfo info;
};

// A file in memory behind libsndfile's virtual I/O (read only; seeking past the end reads nothing, as
// with a file on disk).
struct MemoryAudio {
  std::vector<uint8_t> bytes;
  sf_count_t pos = 0;

  static MemoryAudio& Of(void* user) { return *static_cast<MemoryAudio*>(user); }
  static sf_count_t Length(void* user) { return static_cast<sf_count_t>(Of(user).bytes.size()); }
  static sf_count_t Seek(sf_count_t offset, int whence, void* user) {
    MemoryAudio& m = Of(user);
    sf_count_t base = 0;
    if (whence == SEEK_CUR) base = m.pos;
    if (whence == SEEK_END) base = static_cast<sf_count_t>(m.bytes.size());
    if (base + offset < 0) return -1;  // before the start: refused, the position is kept
    m.pos = base + offset;
    return m.pos;
  }
  static sf_count_t Read(void* out, sf_count_t count, void* user) {
    MemoryAudio& m = Of(user);
    if (count <= 0 || m.pos < 0) return 0;
    const size_t n = m.CopyUpTo(static_cast<uint64_t>(m.pos), static_cast<unsigned char*>(out), static_cast<size_t>(count));
    m.pos += static_cast<sf_count_t>(n);
    return static_cast<sf_count_t>(n);
  }
  static sf_count_t Write(const void*, sf_count_t, void*) { return 0; }
  static sf_count_t Tell(void* user) { return Of(user).pos; }

  // Up to n bytes from `offset` (fewer at the end); how many were copied.
  size_t CopyUpTo(uint64_t offset, unsigned char* buf, size_t n) const {
    if (offset >= bytes.size()) return 0;
    const size_t k = std::min<size_t>(n, bytes.size() - static_cast<size_t>(offset));
    std::memcpy(buf, bytes.data() + offset, k);
    return k;
  }
  bool CopyAt(uint64_t offset, unsigned char* buf, size_t n) const {
    if (offset > bytes.size() || n > bytes.size() - offset) return false;
    std::memcpy(buf, bytes.data() + offset, n);
    return true;
  }
};

OpenedFile CheckOpened(const std::string& path, SndfilePtr file, const SF_INFO& sf_info, const ReadAt& read_at,
                       uint64_t file_size, double max_duration_s);

// Every header check, in the order documented in the header file. Nothing proportional to a header
// value is allocated here.
OpenedFile OpenAndCheck(const std::string& path, double max_duration_s) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    const int err = ec ? ec.value() : ENOENT;
    Fail(path, fmt::format("cannot open: {}", std::strerror(err)));
  }
  if (fs::is_directory(status)) Fail(path, "is a directory, not an audio file");
  // A FIFO or device could block forever or never end: refuse anything that is not a plain file.
  if (!fs::is_regular_file(status)) Fail(path, "is not a regular file");
  {
    std::FILE* probe = std::fopen(path.c_str(), "rb");  // plain errno text for permissions and the like
    if (probe == nullptr) Fail(path, fmt::format("cannot open: {}", std::strerror(errno)));
    std::fclose(probe);
  }
  const uint64_t file_size = fs::file_size(path, ec);
  if (ec) Fail(path, fmt::format("cannot open: {}", ec.message()));

  std::ifstream in(path, std::ios::binary);
  const ReadAt read_at = [&in](uint64_t offset, unsigned char* buf, size_t n) {
    return in && ReadStreamAt(in, offset, buf, n) == n;
  };
  SF_INFO sf_info{};
  SndfilePtr file(sf_open(path.c_str(), SFM_READ, &sf_info));
  return CheckOpened(path, std::move(file), sf_info, read_at, file_size, max_duration_s);
}

OpenedFile OpenMemoryAndCheck(MemoryAudio& memory, const std::string& name, double max_duration_s) {
  static SF_VIRTUAL_IO io{&MemoryAudio::Length, &MemoryAudio::Seek, &MemoryAudio::Read, &MemoryAudio::Write,
                          &MemoryAudio::Tell};
  memory.pos = 0;
  SF_INFO sf_info{};
  SndfilePtr file(sf_open_virtual(&io, SFM_READ, &sf_info, &memory));
  const ReadAt read_at = [&memory](uint64_t offset, unsigned char* buf, size_t n) {
    return memory.CopyAt(offset, buf, n);
  };
  return CheckOpened(name, std::move(file), sf_info, read_at, memory.bytes.size(), max_duration_s);
}

// The checks after sf_open(): `file` is null when libsndfile refused the file.
OpenedFile CheckOpened(const std::string& path, SndfilePtr file, const SF_INFO& sf_info, const ReadAt& read_at,
                       uint64_t file_size, double max_duration_s) {
  if (!file) {
    const int sf_errno = sf_error(nullptr);
    DiagnoseOpenFailure(path, read_at, file_size, sf_errno, sf_strerror(nullptr));
  }
  CheckChannels(path, sf_info.channels);
  CheckSampleRate(path, sf_info.samplerate);

  AudioInfo info;
  info.path = path;
  info.container = ContainerName(sf_info.format);
  info.encoding = EncodingName(sf_info.format);
  info.sample_rate_hz = sf_info.samplerate;
  info.channels = sf_info.channels;
  info.frames = std::max<int64_t>(sf_info.frames, 0);
  info.declared_frames = info.frames;

  const int major = sf_info.format & SF_FORMAT_TYPEMASK;
  if (major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX) {
    const WavScan scan = ScanWavHeader(read_at, file_size);
    // data bytes / block align is the frame count only where a block is one frame (PCM, float, A-law,
    // mu-law, and EXTENSIBLE, which in practice wraps those); ADPCM blocks hold many frames.
    const bool block_is_frame = scan.format_tag == 0x0001 || scan.format_tag == 0x0003 ||
                                scan.format_tag == 0x0006 || scan.format_tag == 0x0007 ||
                                scan.format_tag == 0xFFFE;
    if (scan.has_fmt && scan.has_data && block_is_frame && scan.block_align > 0 &&
        scan.data_bytes != kUnknownLengthPlaceholder) {
      info.declared_frames = std::max<int64_t>(info.frames, scan.data_bytes / scan.block_align);
    }
  }
  if (info.frames == 0) Fail(path, "contains no audio (0 frames)");

  const double declared_s = static_cast<double>(info.declared_frames) / info.sample_rate_hz;
  if (!(declared_s <= max_duration_s)) {
    Fail(path, fmt::format("duration {:.1f} s exceeds the limit of {:g} s (audio.max_duration_s): header "
                           "declares {} frames at {} Hz",
                           declared_s, max_duration_s, info.declared_frames, info.sample_rate_hz));
  }
  info.duration_s = static_cast<double>(info.frames) / info.sample_rate_hz;
  return OpenedFile{std::move(file), std::move(info)};
}

std::string_view NonFiniteName(float v) {
  if (std::isnan(v)) return "NaN";
  return v > 0 ? "+Inf" : "-Inf";
}

}  // namespace

// -----------------------------------------------------------------------------------------------------------

void AudioReadConfig::Validate(std::string_view path) const {
  if (!(sample_rate_hz == 0.0 ||
        (sample_rate_hz >= 1.0 && sample_rate_hz <= static_cast<double>(kMaxAudioSampleRateHz)))) {
    throw ConfigError(
        RuleMessage(path, "sample_rate_hz", sample_rate_hz,
                    fmt::format("0 (keep the file's rate) or in [1, {}]", kMaxAudioSampleRateHz)));
  }
  if (channel < 0) throw ConfigError(RuleMessage(path, "channel", channel, ">= 0"));
  if (block_frames < 1 || block_frames > kMaxAudioBlockFrames) {
    throw ConfigError(
        RuleMessage(path, "block_frames", block_frames, fmt::format("in [1, {}]", kMaxAudioBlockFrames)));
  }
  if (!(std::isfinite(max_duration_s) && max_duration_s > 0.0)) {
    throw ConfigError(RuleMessage(path, "max_duration_s", max_duration_s, "finite and > 0"));
  }
}

AudioInfo ProbeAudioFile(const std::string& path, double max_duration_s) {
  return OpenAndCheck(path, max_duration_s).info;
}

// -----------------------------------------------------------------------------------------------------------

struct AudioFileReader::Impl {
  AudioReadConfig config;
  AudioInfo info;
  std::unique_ptr<MemoryAudio> memory;  // the file's bytes for a reader from memory; outlives `file`
  SndfilePtr file;
  SoxrPtr resampler;  // null when the file is already at the output rate
  double output_rate_hz = 0.0;

  std::vector<float> interleaved;  // block_frames x channels
  std::vector<float> mono;         // block_frames
  std::vector<float> resampled;    // soxr output scratch

  int64_t frames_read = 0;
  int64_t samples_out = 0;
  bool input_done = false;
  bool finished = false;
  std::string failure;  // message of the AudioError that failed the reader
  std::string truncation;
  std::string damage;          // what FlacDecoder reported ("" for other formats and clean FLAC)
  bool decoder_error = false;  // libsndfile reported an error on a short read
  std::string decoder_message;
  std::string path_on_disk;             // "" for a reader from memory
  std::unique_ptr<FlacDecoder> flac;    // decodes a FLAC file in libsndfile's place (flac-decoder.h)

  // FLAC files are decoded with libFLAC itself: it goes on past damaged frames (flac-decoder.h).
  void StartFlacDecoder() {
    FlacDecoder::ReadBytes read;
    if (memory) {
      read = [m = memory.get()](uint64_t offset, unsigned char* buf, size_t n) { return m->CopyUpTo(offset, buf, n); };
    } else {
      auto in = std::make_shared<std::ifstream>(path_on_disk, std::ios::binary);
      if (!*in) Fail(info.path, fmt::format("cannot open: {}", std::strerror(errno)));
      read = [in](uint64_t offset, unsigned char* buf, size_t n) { return ReadStreamAt(*in, offset, buf, n); };
    }
    flac = std::make_unique<FlacDecoder>(std::move(read), info.channels, std::max(info.frames, info.declared_frames));
  }

  // Decodes the next block into `mono`; returns the number of frames (0 at the end of the data).
  size_t ReadInput() {
    const int channels = info.channels;
    if (decoder_error) {  // a decoder that failed once is not asked again
      NoteEnd();
      return 0;
    }
    sf_count_t got = 0;
    if (flac) {
      got = static_cast<sf_count_t>(flac->Read(interleaved.data(), static_cast<size_t>(config.block_frames)));
    } else {
      got = sf_readf_float(file.get(), interleaved.data(), config.block_frames);
      if (got < config.block_frames && sf_error(file.get()) != SF_ERR_NO_ERROR) {
        // libsndfile clears the error on the next call, so keep its message now.
        decoder_error = true;
        decoder_message = sf_strerror(file.get());
      }
    }
    if (got <= 0) {
      NoteEnd();
      return 0;
    }
    const size_t n = static_cast<size_t>(got);
    const size_t ch = static_cast<size_t>(channels);
    for (size_t i = 0; i < n * ch; ++i) {
      if (!std::isfinite(interleaved[i])) {
        const int64_t frame = frames_read + static_cast<int64_t>(i / ch);
        throw AudioError(
            fmt::format("{}: sample {} (t = {:.3f} s, channel {}) is {}; expected finite sample "
                        "values",
                        info.path, frame, static_cast<double>(frame) / info.sample_rate_hz, i % ch,
                        NonFiniteName(interleaved[i])));  // ReadBlock() keeps the reader failed
      }
    }
    if (ch == 1) {
      std::copy_n(interleaved.begin(), n, mono.begin());
    } else if (config.channel_mode == ChannelMode::kSelect) {
      const size_t c = static_cast<size_t>(config.channel);
      for (size_t i = 0; i < n; ++i) mono[i] = interleaved[i * ch + c];
    } else {
      // Sum in double, round once to float: integer PCM sums exactly, so stereo is exactly (L + R) / 2.
      for (size_t i = 0; i < n; ++i) {
        double sum = 0.0;
        for (size_t c = 0; c < ch; ++c) sum += interleaved[i * ch + c];
        mono[i] = static_cast<float>(sum / static_cast<double>(ch));
      }
    }
    frames_read += got;
    return n;
  }

  // The decoder delivered nothing more: record a truncation if the header promised more.
  void NoteEnd() {
    const int64_t expected = std::max(info.frames, info.declared_frames);
    if (flac && flac->DamageReports() > 0 && damage.empty()) {
      const double rate = info.sample_rate_hz;
      damage = fmt::format("{}: damaged FLAC data: libFLAC reported {} error{} ({}) between {:.3f} s and {:.3f} s; "
                           "damaged frames were decoded as silence",
                           info.path, flac->DamageReports(), flac->DamageReports() == 1 ? "" : "s",
                           flac->FirstError(), static_cast<double>(flac->FirstDamageFrame()) / rate,
                           static_cast<double>(flac->LastDamageFrame()) / rate);
    }
    if (frames_read < expected || decoder_error) {
      truncation = fmt::format(
          "{}: truncated: header declares {} frames ({:.3f} s) but only {} ({:.3f} s) "
          "could be read",
          info.path, expected, static_cast<double>(expected) / info.sample_rate_hz, frames_read,
          static_cast<double>(frames_read) / info.sample_rate_hz);
      if (decoder_error) truncation += fmt::format(" (libsndfile: {})", decoder_message);
      if (flac) truncation += " (libFLAC: the stream ends there)";
    }
  }

  void CheckSoxr(soxr_error_t error) const {
    if (error != nullptr) Fail(info.path, fmt::format("resampler failed: {}", error));
  }

  // Pushes n mono samples through soxr and appends what it emits to `out`.
  void Resample(size_t n, std::vector<float>& out) {
    size_t pos = 0;
    while (pos < n) {
      size_t consumed = 0;
      size_t produced = 0;
      CheckSoxr(soxr_process(resampler.get(), mono.data() + pos, n - pos, &consumed, resampled.data(),
                             resampled.size(), &produced));
      out.insert(out.end(), resampled.begin(), resampled.begin() + static_cast<std::ptrdiff_t>(produced));
      pos += consumed;
      // soxr always progresses with a non-empty output buffer; refuse to spin (or drop input) if not.
      if (consumed == 0 && produced == 0) Fail(info.path, "resampler made no progress");
    }
  }

  // Drains soxr's tail and sets the total output to exactly llround(frames_read * out / in).
  void Flush(std::vector<float>& out) {
    for (;;) {
      size_t produced = 0;
      CheckSoxr(
          soxr_process(resampler.get(), nullptr, 0, nullptr, resampled.data(), resampled.size(), &produced));
      if (produced == 0) break;
      out.insert(out.end(), resampled.begin(), resampled.begin() + static_cast<std::ptrdiff_t>(produced));
    }
    const int64_t target = ExpectedOutputSamples(frames_read);
    const int64_t total = samples_out + static_cast<int64_t>(out.size());
    // Only the tail handed out in this call can be adjusted; soxr never runs ahead of its final count.
    const int64_t adjusted = std::max<int64_t>(static_cast<int64_t>(out.size()) + (target - total), 0);
    out.resize(static_cast<size_t>(adjusted), 0.0f);
  }

  // The constructors' common part: keeps the opened file and sizes the buffers and the resampler.
  void SetUp(OpenedFile opened, const AudioReadConfig& read_config);

  int64_t ExpectedOutputSamples(int64_t frames) const {
    // long double (64-bit mantissa): frames x rate is exact for every file this reader accepts, so halves
    // round the way soxr's own count does (up), with no off-by-one from double rounding.
    const long double exact = static_cast<long double>(frames) * static_cast<long double>(output_rate_hz) /
                              static_cast<long double>(info.sample_rate_hz);
    return std::llround(exact);
  }
};

AudioFileReader::AudioFileReader(const std::string& path, const AudioReadConfig& config)
    : impl_(std::make_unique<Impl>()) {
  config.Validate();
  impl_->path_on_disk = path;
  impl_->SetUp(OpenAndCheck(path, config.max_duration_s), config);
}

AudioFileReader::AudioFileReader(std::span<const uint8_t> bytes, const std::string& name_for_messages,
                                 const AudioReadConfig& config)
    : impl_(std::make_unique<Impl>()) {
  config.Validate();
  impl_->memory = std::make_unique<MemoryAudio>();
  impl_->memory->bytes.assign(bytes.begin(), bytes.end());
  impl_->SetUp(OpenMemoryAndCheck(*impl_->memory, name_for_messages, config.max_duration_s), config);
}

void AudioFileReader::Impl::SetUp(OpenedFile opened, const AudioReadConfig& read_config) {
  const std::string path = opened.info.path;
  Impl& s = *this;
  s.config = read_config;
  s.info = std::move(opened.info);
  s.file = std::move(opened.file);
  if (read_config.channel_mode == ChannelMode::kSelect && read_config.channel >= s.info.channels) {
    throw ConfigError(RuleMessage("audio", "channel", read_config.channel,
                                  fmt::format("< {} (the channel count of {})", s.info.channels, path)));
  }
  s.output_rate_hz = read_config.sample_rate_hz == 0.0 ? s.info.sample_rate_hz : read_config.sample_rate_hz;
  if (s.info.container == "FLAC") s.StartFlacDecoder();

  // Bounded by Validate() and the header checks: block_frames <= 2^24, channels <= 256.
  const size_t block = static_cast<size_t>(read_config.block_frames);
  s.interleaved.resize(block * static_cast<size_t>(s.info.channels));
  s.mono.resize(block);
  if (s.output_rate_hz != static_cast<double>(s.info.sample_rate_hz)) {
    soxr_error_t error = nullptr;
    const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
    s.resampler.reset(
        soxr_create(s.info.sample_rate_hz, s.output_rate_hz, 1, &error, &io, &quality, nullptr));
    if (error != nullptr || !s.resampler) {
      Fail(path, fmt::format("cannot create a resampler from {} Hz to {:g} Hz: {}", s.info.sample_rate_hz,
                             s.output_rate_hz, error != nullptr ? error : "unknown error"));
    }
    // Room for one block's output plus slack; Resample() loops if soxr has more to give.
    const double ratio = s.output_rate_hz / s.info.sample_rate_hz;
    s.resampled.resize(static_cast<size_t>(std::ceil(static_cast<double>(block) * ratio)) + 1024);
  }
}

AudioFileReader::~AudioFileReader() = default;
AudioFileReader::AudioFileReader(AudioFileReader&&) noexcept = default;
AudioFileReader& AudioFileReader::operator=(AudioFileReader&&) noexcept = default;

const AudioInfo& AudioFileReader::Info() const { return impl_->info; }
double AudioFileReader::OutputSampleRateHz() const { return impl_->output_rate_hz; }
bool AudioFileReader::Resampling() const { return impl_->resampler != nullptr; }
int64_t AudioFileReader::InputFramesRead() const { return impl_->frames_read; }
int64_t AudioFileReader::OutputSamplesRead() const { return impl_->samples_out; }
bool AudioFileReader::Truncated() const { return !impl_->truncation.empty(); }
const std::string& AudioFileReader::TruncationMessage() const { return impl_->truncation; }
bool AudioFileReader::Damaged() const { return !impl_->damage.empty(); }
const std::string& AudioFileReader::DamageMessage() const { return impl_->damage; }
std::string AudioFileReader::Warning() const {
  if (impl_->damage.empty()) return impl_->truncation;
  if (impl_->truncation.empty()) return impl_->damage;
  return impl_->damage + "; " + impl_->truncation;
}

bool AudioFileReader::ReadBlock(std::vector<float>& out) {
  out.clear();
  Impl& s = *impl_;
  if (!s.failure.empty()) throw AudioError(s.failure);
  try {
    // Loops only while soxr is still filling its pipeline (it emits nothing for the first few short
    // blocks); each pass consumes input or ends the stream, so it terminates.
    while (out.empty() && !s.finished) {
      if (!s.input_done) {
        const size_t n = s.ReadInput();
        if (n == 0) {
          s.input_done = true;
        } else if (s.resampler) {
          s.Resample(n, out);
        } else {
          out.assign(s.mono.begin(), s.mono.begin() + static_cast<std::ptrdiff_t>(n));
        }
      } else {
        if (s.resampler) s.Flush(out);
        s.finished = true;
      }
    }
  } catch (const AudioError& e) {
    s.failure = e.what();
    out.clear();
    throw;
  }
  s.samples_out += static_cast<int64_t>(out.size());
  return !out.empty();
}

std::vector<float> ReadAudioFile(const std::string& path, const AudioReadConfig& config, std::string* warning) {
  AudioFileReader reader(path, config);
  std::vector<float> samples;
  // Reserve from the header only up to a bound: a header may lie about its length (it is checked against
  // max_duration_s, not against the bytes present).
  constexpr int64_t kMaxReserve = int64_t{1} << 22;  // 16 MiB of floats
  const long double expected = static_cast<long double>(reader.Info().frames) * reader.OutputSampleRateHz() /
                               reader.Info().sample_rate_hz;
  samples.reserve(static_cast<size_t>(std::min<long double>(expected + 1, kMaxReserve)));
  std::vector<float> block;
  while (reader.ReadBlock(block)) samples.insert(samples.end(), block.begin(), block.end());
  if (warning) *warning = reader.Warning();
  return samples;
}

}  // namespace ossicle
