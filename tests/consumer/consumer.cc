// A program that uses only ossicle's installed public headers: it loads a model, pushes audio through the
// streaming API (features -> model -> keyword decoder) in small chunks, reads the hits, and checks them
// against the batch graph of the pipeline library on the same file.
//
//   ossicle-consumer TORCH.safetensors GRAPH.yaml OUT_DIR AUDIO...
//
// TORCH.safetensors: a PyTorch export (tests/data/models/lstm_bi_2layer.safetensors: 40 inputs, 12 classes);
// GRAPH.yaml: the installed share/ossicle/configs/graphs/batch-keywords.yaml. Prints one line per hit and
// exits 0 when both ways give the same hits for every file (times within the records' 0.1 ms rounding,
// scores exact) and there is at least one hit in all.
#include <ossicle/pipeline.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

std::vector<ossicle::KeywordHit> StreamingHits(const std::shared_ptr<const ossicle::AcousticModel>& model,
                                               const ossicle::KwsDecoderConfig& kws_config,
                                               const std::vector<float>& samples) {
  ossicle::OnlineFeatureExtractor fbank(model->Features());
  ossicle::StreamingConfig streaming;
  streaming.mode = ossicle::BidirectionalMode::kOffline;  // as the batch graph runs it
  ossicle::ModelStream stream(model, streaming);
  ossicle::KwsDecoder kws(kws_config, model->Labels(), fbank.FrameShiftSeconds());
  const auto classes = static_cast<Eigen::Index>(model->Labels().size());
  std::vector<ossicle::KeywordHit> hits;
  int64_t fed = 0, decoded = 0;
  auto pump = [&] {
    const int64_t n = fbank.NumFramesReady() - fed;
    if (n > 0) stream.AcceptFrames(Eigen::Map<const ossicle::MatrixF>(fbank.FramesFrom(fed).data(), n, fbank.Dim()));
    fed += n;
    const int64_t m = stream.NumFramesReady() - decoded;
    if (m > 0) {
      for (auto& hit : kws.AcceptFrames(
               Eigen::Map<const ossicle::MatrixF>(stream.LogProbsFrom(decoded).data(), m, classes), decoded)) {
        hits.push_back(hit);
      }
    }
    decoded += m;
  };
  const size_t chunk = 1000;  // 62.5 ms at 16 kHz
  for (size_t i = 0; i < samples.size(); i += chunk) {
    const size_t end = std::min(samples.size(), i + chunk);
    fbank.AcceptWaveform(std::span<const float>(samples.data() + i, end - i));
    pump();
  }
  fbank.InputFinished();
  pump();
  stream.InputFinished();
  pump();
  for (auto& hit : kws.InputFinished()) hits.push_back(hit);
  return hits;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: ossicle-consumer TORCH.safetensors GRAPH.yaml OUT_DIR AUDIO...\n");
    return 2;
  }
  try {
    const std::vector<std::string> labels = {"_silence_", "yes", "no",  "up",  "down", "left",
                                             "right",     "on",  "off", "stop", "go",  "_unknown_"};
    const std::string model_path = std::string(argv[3]) + "/kws.safetensors";
    ossicle::AcousticModel::ImportTorch(argv[1], ossicle::FeatureConfig::KaldiFbank(40), labels)->Save(model_path);
    auto model = ossicle::AcousticModel::Load(model_path);

    ossicle::KwsDecoderConfig kws_config;
    kws_config.keywords = "yes,no";
    kws_config.threshold = 0.05;
    kws_config.suppression_ms = 1000;
    auto graph = ossicle::Graph::Load(argv[2], {"model.path=" + model_path, "keywords.keywords=yes,no",
                                                "keywords.threshold=0.05"});

    int total = 0, mismatches = 0;
    for (int i = 4; i < argc; ++i) {
      const std::vector<float> samples = ossicle::ReadAudioFile(argv[i]);
      const std::vector<ossicle::KeywordHit> hits = StreamingHits(model, kws_config, samples);
      std::vector<nlohmann::json> records;
      graph->RunFile(argv[i], [&](const nlohmann::json& r) {
        if (r["type"] == "hit") records.push_back(r);
      });
      // The graph's records place frame 0 in the audio's timeline: the centre of its window minus half a
      // shift, (25 - 10) / 2 = 7.5 ms for these snip_edges frames; the decoder's own times start at 0.
      const ossicle::FrameConfig& frame = model->Features().frame;
      const double offset_s = (frame.frame_length_ms - frame.frame_shift_ms) / 2000.0;
      bool same = records.size() == hits.size();
      for (size_t k = 0; same && k < hits.size(); ++k) {
        same = records[k]["keyword"] == hits[k].keyword &&
               std::abs(records[k]["start_s"].get<double>() - (hits[k].start_s + offset_s)) <= 5e-5 &&
               std::abs(records[k]["end_s"].get<double>() - (hits[k].end_s + offset_s)) <= 5e-5 &&
               records[k]["score"].get<double>() == hits[k].score;
      }
      for (const auto& hit : hits) {
        std::printf("%s %s %.3f %.3f %.4f\n", argv[i], hit.keyword.c_str(), hit.start_s, hit.end_s, hit.score);
      }
      if (!same) {
        std::fprintf(stderr, "%s: %zu streaming hits, %zu graph hits, not the same\n", argv[i], hits.size(),
                     records.size());
        ++mismatches;
      }
      total += static_cast<int>(hits.size());
    }
    if (total == 0) std::fprintf(stderr, "no hits at all\n");
    return mismatches == 0 && total > 0 ? 0 : 1;
  } catch (const ossicle::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
