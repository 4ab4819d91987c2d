// Whole-buffer sample-rate conversion with soxr (SOXR_HQ, the quality AudioFileReader uses).
#pragma once

#include <span>
#include <vector>

namespace ossicle {

// Converts `samples` from `in_rate_hz` to `out_rate_hz` (any positive ratio; the rates only matter through
// their ratio). The output has exactly llround(n * out / in) samples (soxr's own count, trimmed or
// zero-padded by at most a sample), with soxr's filter delay removed, so output sample k is the input at
// t = k / out_rate_hz. Equal rates return a copy. Throws AudioError if soxr fails.
std::vector<float> ResampleAudio(std::span<const float> samples, double in_rate_hz, double out_rate_hz);

}  // namespace ossicle
