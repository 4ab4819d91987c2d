#include "pipeline/flac-decoder.h"

#include <FLAC/stream_decoder.h>

#include <algorithm>
#include <string_view>
#include <vector>

namespace ossicle {

// The longest run of lost frames filled with silence, in samples (x channels): 2^20 = 65 s of 16 kHz mono.
constexpr int64_t kMaxGapSamples = int64_t{1} << 20;

struct FlacDecoder::Impl {
  ReadBytes read;
  int channels = 1;
  int64_t budget = 0;     // frames still to deliver
  uint64_t offset = 0;    // next byte to read
  int64_t position = 0;   // frames of the stream passed so far (delivered, or beyond the budget), file rate
  std::vector<float> pending;  // decoded, not yet delivered (interleaved)
  size_t pending_at = 0;       // first undelivered float of `pending`
  bool ended = false;
  bool failed = false;
  int64_t reports = 0;
  int64_t first_damage = -1;
  int64_t last_damage = -1;
  std::string first_error;
  FLAC__StreamDecoder* decoder = nullptr;

  static Impl& Of(void* client) { return *static_cast<Impl*>(client); }

  // Advances the position by `count` frames: samples first..first+count of `buffer` (scaled), or silence
  // when `buffer` is null; nothing beyond the budget is kept.
  void Emit(int64_t count, const FLAC__int32* const* buffer, double scale, int64_t first = 0) {
    const int64_t take = std::min(count, budget);
    budget -= take;
    position += count;
    for (int64_t i = first; i < first + take; ++i) {
      for (int c = 0; c < channels; ++c) {
        pending.push_back(buffer == nullptr ? 0.0f : static_cast<float>(static_cast<double>(buffer[c][i]) * scale));
      }
    }
  }

  static FLAC__StreamDecoderReadStatus OnRead(const FLAC__StreamDecoder*, FLAC__byte buffer[], size_t* bytes,
                                              void* client) {
    Impl& s = Of(client);
    const size_t n = *bytes == 0 ? 0 : s.read(s.offset, buffer, *bytes);
    *bytes = n;
    if (n == 0) return FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
    s.offset += n;
    return FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
  }

  static FLAC__StreamDecoderWriteStatus OnWrite(const FLAC__StreamDecoder*, const FLAC__Frame* frame,
                                                const FLAC__int32* const buffer[], void* client) {
    Impl& s = Of(client);
    const unsigned bits = frame->header.bits_per_sample;
    if (static_cast<int>(frame->header.channels) != s.channels || bits < 4 || bits > 32) {
      s.failed = true;
      return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
    }
    const double scale = 1.0 / static_cast<double>(uint64_t{1} << (bits - 1));
    const int64_t block = frame->header.blocksize;
    // Frames lost whole (lost sync skips to the next frame header) leave a gap before this frame's first
    // sample: silence fills it, so everything after keeps its time.
    int64_t start = s.position;
    if (frame->header.number_type == FLAC__FRAME_NUMBER_TYPE_SAMPLE_NUMBER) {
      start = static_cast<int64_t>(frame->header.number.sample_number);
    }
    if (start > s.position) {
      // A gap longer than a few seconds of frames is no lost frame but a broken header: end the stream
      // there (the reader then reports the file as truncated) rather than hold that much silence.
      if ((start - s.position) * s.channels > kMaxGapSamples) {
        s.failed = true;
        return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
      }
      s.Emit(start - s.position, nullptr, 0.0);
    }
    // A frame that starts before the position (a repeated or misnumbered one) gives only what is new.
    const int64_t overlap = std::clamp<int64_t>(s.position - start, 0, block);
    s.Emit(block - overlap, buffer, scale, overlap);
    return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
  }

  static void OnError(const FLAC__StreamDecoder*, FLAC__StreamDecoderErrorStatus status, void* client) {
    Impl& s = Of(client);
    if (s.reports == 0) {
      std::string_view name = FLAC__StreamDecoderErrorStatusString[status];
      constexpr std::string_view kPrefix = "FLAC__STREAM_DECODER_ERROR_STATUS_";
      if (name.starts_with(kPrefix)) name.remove_prefix(kPrefix.size());
      s.first_error = std::string(name);
      s.first_damage = s.position;
    }
    s.last_damage = s.position;
    ++s.reports;
  }
};

FlacDecoder::FlacDecoder(ReadBytes read, int channels, int64_t max_frames)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.read = std::move(read);
  s.channels = channels;
  s.budget = std::max<int64_t>(max_frames, 0);
  s.decoder = FLAC__stream_decoder_new();
  if (s.decoder == nullptr ||
      FLAC__stream_decoder_init_stream(s.decoder, &Impl::OnRead, nullptr, nullptr, nullptr, nullptr, &Impl::OnWrite,
                                       nullptr, &Impl::OnError, &s) != FLAC__STREAM_DECODER_INIT_STATUS_OK) {
    s.failed = true;
    s.ended = true;
  }
}

FlacDecoder::~FlacDecoder() {
  if (impl_->decoder != nullptr) {
    FLAC__stream_decoder_finish(impl_->decoder);
    FLAC__stream_decoder_delete(impl_->decoder);
  }
}

size_t FlacDecoder::Read(float* out, size_t max_frames) {
  Impl& s = *impl_;
  const size_t ch = static_cast<size_t>(s.channels);
  auto available = [&] { return (s.pending.size() - s.pending_at) / ch; };
  // Calls in a row that neither read a byte nor decoded a frame. libFLAC keeps what it read in its own
  // buffer, so searching through damage for the next frame takes many such calls (each moves on in that
  // buffer); the bound only guards against a decoder that stopped moving.
  int64_t idle = 0;
  while (available() < max_frames && !s.ended) {
    if (s.budget == 0) {
      s.ended = true;
      break;
    }
    const uint64_t before = s.offset;
    const int64_t decoded = s.position;
    const bool ok = FLAC__stream_decoder_process_single(s.decoder);
    const FLAC__StreamDecoderState state = FLAC__stream_decoder_get_state(s.decoder);
    idle = (s.offset == before && s.position == decoded) ? idle + 1 : 0;
    if (!ok || s.failed || state == FLAC__STREAM_DECODER_END_OF_STREAM || state == FLAC__STREAM_DECODER_ABORTED ||
        state == FLAC__STREAM_DECODER_MEMORY_ALLOCATION_ERROR || idle > (int64_t{1} << 22)) {
      s.ended = true;
    }
  }
  const size_t n = std::min(available(), max_frames);
  std::copy_n(s.pending.begin() + static_cast<std::ptrdiff_t>(s.pending_at), n * ch, out);
  s.pending_at += n * ch;
  if (s.pending_at == s.pending.size()) {
    s.pending.clear();
    s.pending_at = 0;
  }
  return n;
}

int64_t FlacDecoder::DamageReports() const { return impl_->reports; }
int64_t FlacDecoder::FirstDamageFrame() const { return impl_->first_damage; }
int64_t FlacDecoder::LastDamageFrame() const { return impl_->last_damage; }
const std::string& FlacDecoder::FirstError() const { return impl_->first_error; }
bool FlacDecoder::Failed() const { return impl_->failed; }

}  // namespace ossicle
