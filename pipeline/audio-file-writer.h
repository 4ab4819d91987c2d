// Writing whole waveforms to audio files (libsndfile), for generated data sets (keyword recipes, phrases).
#pragma once

#include <span>
#include <string>

namespace ossicle {

// Writes mono `samples` (in [-1, 1]; libsndfile clips beyond) as a 16-bit PCM WAV file at `rate_hz`.
// IoError naming the path when the file cannot be opened or fully written.
void WritePcm16Wav(const std::string& path, std::span<const float> samples, int rate_hz);

}  // namespace ossicle
