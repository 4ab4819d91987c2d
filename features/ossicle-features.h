// ossicle::features — the public header of the audio front end (installed as <ossicle/features.h>).
//
//   #include <ossicle/features.h>
//
//   ossicle::FeatureConfig config = ossicle::FeatureConfig::KaldiFbank(40);  // 16 kHz, 25 ms / 10 ms frames
//   config.Validate();                                       // ConfigError naming the field
//   ossicle::OnlineFeatureExtractor fbank(config);
//   fbank.AcceptWaveform(chunk);                             // mono floats in [-1, 1), any chunk size; repeat
//   fbank.InputFinished();
//   for (int64_t t = fbank.FirstFrameHeld(); t < fbank.NumFramesReady(); ++t) use(fbank.Frame(t));  // Dim() floats
//
//   // or the whole signal at once (bit for bit the same frames):
//   ossicle::FeatureMatrix m = ossicle::ComputeFeatures(config, samples);    // m.num_frames x m.dim, row-major
//
// What is declared by the headers included here is the library's API. The other headers under
// <prefix>/include/ossicle/detail/ are implementation details: they are installed because these need
// them, and may change in any release.
#pragma once

#include "features/errors.h"          // ossicle::Error and the typed exceptions every library throws
#include "features/feature-config.h"  // FeatureConfig and its parts (frame, mel, cmvn, deltas), presets
#include "features/online-features.h"  // OnlineFeatureExtractor, ComputeFeatures, FeatureMatrix
