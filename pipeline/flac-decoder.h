// FLAC audio decoded with libFLAC itself, going on past damaged frames (used by AudioFileReader).
//
// libsndfile opens and checks a FLAC file (its header, rate, channels, length), but its decoding of a
// damaged stream (a flipped bit, a bad block of a disk or a download) is no use: it stops at the first frame
// it cannot decode and returns a short read, or goes on having silently dropped samples, so that everything
// after the damage moves in time. libFLAC's own stream decoder reports such a frame and goes on: a frame
// whose checksum does not match is delivered as silence of the frame's length, and after lost sync it
// searches for the next frame. Frames lost whole are filled with silence up to the next good frame's first
// sample (each frame header numbers its samples), so the audio keeps its length and its time.
//
//   ossicle::FlacDecoder d(read_bytes, /*channels=*/1, /*max_frames=*/info.frames);
//   while (size_t n = d.Read(interleaved.data(), block_frames)) { ... }
//   d.DamageReports(), d.FirstDamageFrame(), d.LastDamageFrame(), d.FirstError()
//
// Samples are scaled as libsndfile scales integer FLAC: s / 2^(bits-1), interleaved by channel. At most
// `max_frames` frames are delivered however many the stream holds (the header's count bounds the output).
// A stream whose frames change their channel count, whose next good frame lies more than 2^20 samples
// past the last, or that libFLAC cannot start on, ends the output early (Failed()); nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ossicle {

class FlacDecoder {
 public:
  // read(offset, buf, n): copies up to n bytes of the file from `offset` into buf; returns how many (0 at
  // the end).
  using ReadBytes = std::function<size_t(uint64_t offset, unsigned char* buf, size_t n)>;

  FlacDecoder(ReadBytes read, int channels, int64_t max_frames);
  ~FlacDecoder();
  FlacDecoder(const FlacDecoder&) = delete;
  FlacDecoder& operator=(const FlacDecoder&) = delete;

  // Up to `max_frames` frames (x channels floats) into `out`; 0 once the stream (or the budget) is done.
  size_t Read(float* out, size_t max_frames);

  int64_t DamageReports() const;     // errors libFLAC reported (a damaged frame usually gives one or two)
  int64_t FirstDamageFrame() const;  // frame index (file rate) where the first error was reported; -1: none
  int64_t LastDamageFrame() const;   // where the last one was; -1: none
  const std::string& FirstError() const;  // libFLAC's name of the first error, e.g. "FRAME_CRC_MISMATCH"
  bool Failed() const;                    // libFLAC could not start, or the stream broke off (see above)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ossicle
