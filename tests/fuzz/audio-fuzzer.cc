// Fuzz target: audio files from memory (libsndfile's virtual I/O) through the reader's checks, channel
// mixing, resampling to 16 kHz (soxr) and the default feature extractor, in small blocks. AudioError is
// the expected outcome for bad bytes; anything else (another exception, a sanitizer report, a crash, a
// hang) is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "features/errors.h"
#include "features/feature-config.h"
#include "features/online-features.h"
#include "pipeline/audio-file-reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ossicle::AudioReadConfig config;
  config.block_frames = 4096;
  // Bounds one input's work: a header may declare a 1 Hz rate that resamples to 16000x the samples.
  config.max_duration_s = 60.0;
  static const ossicle::FeatureConfig features;
  try {
    ossicle::AudioFileReader reader({data, size}, "fuzz.audio", config);
    ossicle::OnlineFeatureExtractor extractor(features);
    std::vector<float> block;
    while (reader.ReadBlock(block)) {
      extractor.AcceptWaveform(block);
      extractor.ReleaseFramesBefore(extractor.NumFramesReady());
    }
    extractor.InputFinished();
    (void)reader.Truncated();
  } catch (const ossicle::AudioError&) {
  }
  return 0;
}
