// ossicle::models — the public header of the model library (installed as <ossicle/models.h>): recurrent
// acoustic models, their streaming runner and the decoders that turn frame posteriors into keyword hits
// and transcripts. Includes <ossicle/features.h>.
//
//   #include <ossicle/models.h>
//
//   auto model = ossicle::AcousticModel::Load("commands.safetensors");  // shared, immutable, thread-safe
//   ossicle::OnlineFeatureExtractor fbank(model->Features());            // the features it was trained on
//   ossicle::ModelStream stream(model, ossicle::StreamingConfig{});      // per-stream state
//   ossicle::KwsDecoderConfig kws_config;                                 // every non-filler label
//   kws_config.threshold = 0.6;
//   ossicle::KwsDecoder kws(kws_config, model->Labels(), fbank.FrameShiftSeconds());
//
//   int64_t fed = 0, decoded = 0;
//   auto pump = [&] {                                   // features -> model -> decoder, whatever is ready
//     const int64_t n = fbank.NumFramesReady() - fed;
//     stream.AcceptFrames(Eigen::Map<const ossicle::MatrixF>(fbank.FramesFrom(fed).data(), n, fbank.Dim()));
//     fed += n;
//     const int64_t m = stream.NumFramesReady() - decoded;
//     const int classes = static_cast<int>(model->Labels().size());
//     for (const ossicle::KeywordHit& hit : kws.AcceptFrames(
//              Eigen::Map<const ossicle::MatrixF>(stream.LogProbsFrom(decoded).data(), m, classes), decoded))
//       std::printf("%s %.2f-%.2f s (%.2f)\n", hit.keyword.c_str(), hit.start_s, hit.end_s, hit.score);
//     decoded += m;
//   };
//   for (each chunk of mono samples at model->Features().frame.sample_rate_hz) { fbank.AcceptWaveform(chunk); pump(); }
//   fbank.InputFinished(); pump();
//   stream.InputFinished(); pump();
//   for (const ossicle::KeywordHit& hit : kws.InputFinished()) ...;
//
//   // Offline, a whole utterance: model->Forward(ossicle::SingleSequence(frames)).log_probs.data  [frames, classes]
//   // Transcription of a CTC model: ossicle::CtcGreedyDecoder / CtcBeamDecoder (AcceptFrames, InputFinished).
//
// What is declared by the headers included here is the library's API; the other headers under
// <prefix>/include/ossicle/detail/ (training, losses, gradients, tensor I/O) are implementation details.
#pragma once

#include "features/ossicle-features.h"
#include "models/acoustic-model.h"        // AcousticModel (Load, Forward, Labels, Features), ModelArchitecture
#include "models/ctc-decoder.h"           // CtcGreedyDecoder, CtcBeamDecoder, Transcript
#include "models/ctc-keyword-spotter.h"   // CtcKeywordSpotter: keywords spelled with a CTC model's tokens
#include "models/keyword-hit.h"           // KeywordHit{keyword, start_s, end_s, score}
#include "models/kws-decoder.h"           // KwsDecoder: posterior smoothing keyword spotter
#include "models/model-stream.h"          // ModelStream, StreamingConfig
#include "models/tensor-types.h"          // MatrixF: row-major [frames, dims]
