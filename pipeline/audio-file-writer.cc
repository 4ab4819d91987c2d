#include "pipeline/audio-file-writer.h"

#include <sndfile.h>

#include "features/errors.h"

namespace ossicle {

void WritePcm16Wav(const std::string& path, std::span<const float> samples, int rate_hz) {
  SF_INFO info{};
  info.samplerate = rate_hz;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  if (!f) throw IoError(path + ": cannot write (libsndfile: " + sf_strerror(nullptr) + ")");
  const auto n = static_cast<sf_count_t>(samples.size());
  const sf_count_t written = sf_writef_float(f, samples.data(), n);
  const int close_error = sf_close(f);
  if (written != n || close_error != 0) throw IoError(path + ": cannot write (disk full?)");
}

}  // namespace ossicle
