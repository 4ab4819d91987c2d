#include "pipeline/keyword-calibration.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "features/errors.h"
#include "features/online-features.h"
#include "pipeline/audio-file-reader.h"

namespace ossicle {

std::vector<MatrixF> FilesLogProbs(const AcousticModel& model, const std::vector<std::string>& paths,
                                   int num_threads, std::vector<std::string>* warnings) {
  if (model.Architecture().head != HeadType::kFrame) {
    throw ConfigError("keyword calibration needs a frame-head model (one posterior per frame); this model has "
                      "an attention head");
  }
  const FeatureConfig& features = model.Features();
  std::vector<MatrixF> out;
  out.reserve(paths.size());
  if (warnings) warnings->clear();
  for (const std::string& path : paths) {
    AudioReadConfig read;
    read.sample_rate_hz = features.frame.sample_rate_hz;
    std::string warning;
    const std::vector<float> samples = ReadAudioFile(path, read, &warning);
    if (warnings) warnings->push_back(warning);
    const FeatureMatrix f = ComputeFeatures(features, samples);
    if (f.num_frames == 0) {
      out.emplace_back(0, model.Architecture().num_classes);
      continue;
    }
    const MatrixF frames = Eigen::Map<const MatrixF>(f.data.data(), f.num_frames, f.dim);
    ModelOutput y = model.Forward(SingleSequence(frames), num_threads);
    out.push_back(std::move(y.log_probs.data));
  }
  return out;
}

std::vector<int64_t> HitsPerFile(const std::vector<MatrixF>& files, const std::vector<std::string>& labels,
                                 double frame_shift_s, const KwsDecoderConfig& config, const std::string& keyword) {
  KwsDecoder decoder(config, labels, frame_shift_s);
  std::vector<int64_t> hits;
  hits.reserve(files.size());
  for (const MatrixF& lp : files) {
    decoder.Reset();
    int64_t n = 0;
    auto count = [&](const std::vector<KeywordHit>& found) {
      for (const KeywordHit& h : found) n += h.keyword == keyword ? 1 : 0;
    };
    if (lp.rows() > 0) count(decoder.AcceptFrames(lp, 0));
    count(decoder.InputFinished());
    hits.push_back(n);
  }
  return hits;
}

std::vector<double> ThresholdGrid() {
  std::vector<double> grid;
  for (int i = 1; i <= 90; ++i) grid.push_back(i / 100.0);
  for (int i = 901; i <= 999; ++i) grid.push_back(i / 1000.0);
  grid.push_back(0.9995);
  grid.push_back(0.9999);
  return grid;
}

DetCounts CountKeywordHits(const KeywordDetFiles& files, const std::vector<std::string>& labels, double frame_shift_s,
                           const KwsDecoderConfig& config, double threshold) {
  if (files.positive_keywords.size() != files.positives.size()) {
    throw std::invalid_argument("CountKeywordHits: one keyword per positive is needed");
  }
  KwsDecoderConfig c = config;
  c.threshold = threshold;
  c.keyword_thresholds.clear();
  KwsDecoder decoder(c, labels, frame_shift_s);
  auto decode = [&](const MatrixF& lp) {
    decoder.Reset();
    std::vector<KeywordHit> hits;
    if (lp.rows() > 0) hits = decoder.AcceptFrames(lp, 0);
    for (KeywordHit& h : decoder.InputFinished()) hits.push_back(std::move(h));
    return hits;
  };
  DetCounts n;
  for (const MatrixF& lp : files.negatives) n.false_alarms += static_cast<int64_t>(decode(lp).size());
  for (size_t i = 0; i < files.positives.size(); ++i) {
    bool found = false;
    for (const KeywordHit& h : decode(files.positives[i])) found = found || h.keyword == files.positive_keywords[i];
    n.misses += found ? 0 : 1;
  }
  return n;
}

std::vector<KeywordDetPoint> CountedDetCurve(const DetCounter& count, int64_t positives, double negative_hours,
                                             std::vector<double> thresholds) {
  if (!(negative_hours > 0)) throw std::invalid_argument("CountedDetCurve: negative_hours must be > 0");
  std::sort(thresholds.begin(), thresholds.end());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  std::vector<KeywordDetPoint> curve;
  curve.reserve(thresholds.size());
  for (double t : thresholds) {
    const DetCounts n = count(t);
    KeywordDetPoint p;
    p.threshold = t;
    p.false_alarms = n.false_alarms;
    p.fa_per_hour = static_cast<double>(n.false_alarms) / negative_hours;
    if (positives > 0) {
      p.misses = n.misses;
      p.miss_rate = static_cast<double>(n.misses) / static_cast<double>(positives);
    }
    curve.push_back(p);
  }
  return curve;
}

std::vector<KeywordDetPoint> KeywordDetCurve(const std::vector<MatrixF>& negatives, double negative_hours,
                               const std::vector<MatrixF>& positives, const std::vector<std::string>& labels,
                               double frame_shift_s, const KwsDecoderConfig& config, const std::string& keyword,
                               const std::vector<double>& grid) {
  if (!(negative_hours > 0)) throw std::invalid_argument("KeywordDetCurve: negative_hours must be > 0");
  auto count = [&](double t) {
    KwsDecoderConfig c = config;
    c.threshold = t;
    c.keyword_thresholds.clear();
    DetCounts n;
    for (int64_t h : HitsPerFile(negatives, labels, frame_shift_s, c, keyword)) n.false_alarms += h;
    for (int64_t h : HitsPerFile(positives, labels, frame_shift_s, c, keyword)) n.misses += h == 0 ? 1 : 0;
    return n;
  };
  return CountedDetCurve(count, static_cast<int64_t>(positives.size()), negative_hours, grid);
}

KeywordDetPoint ThresholdForFaRate(const std::vector<KeywordDetPoint>& curve, double target_fa_per_hour) {
  if (curve.empty()) throw std::invalid_argument("ThresholdForFaRate: empty curve");
  const KeywordDetPoint* best = nullptr;
  for (const KeywordDetPoint& p : curve) {
    if (p.fa_per_hour <= target_fa_per_hour && (best == nullptr || p.threshold < best->threshold)) best = &p;
  }
  if (best != nullptr) return *best;
  for (const KeywordDetPoint& p : curve) {
    if (best == nullptr || p.false_alarms < best->false_alarms ||
        (p.false_alarms == best->false_alarms && p.threshold > best->threshold)) {
      best = &p;
    }
  }
  return *best;
}

std::vector<double> FineThresholdsBelow(const std::vector<KeywordDetPoint>& curve, double target_fa_per_hour,
                                        double fine_step) {
  if (!(fine_step > 0 && fine_step <= 0.01)) {
    throw std::invalid_argument("FineThresholdsBelow: fine_step must be in (0, 0.01]");
  }
  const double chosen = ThresholdForFaRate(curve, target_fa_per_hour).threshold;
  double below = -1.0;  // the curve's threshold below the chosen one
  for (const KeywordDetPoint& p : curve) {
    if (p.threshold < chosen) below = std::max(below, p.threshold);
  }
  std::vector<double> fine;
  if (below < 0) return fine;  // the lowest threshold already meets the target
  for (int64_t k = 1;; ++k) {
    const double t = below + static_cast<double>(k) * fine_step;
    if (t >= chosen - fine_step / 2) break;
    fine.push_back(t);
  }
  return fine;
}

std::vector<KeywordDetPoint> RefinedKeywordDetCurve(const std::vector<MatrixF>& negatives, double negative_hours,
                                                    const std::vector<MatrixF>& positives,
                                                    const std::vector<std::string>& labels, double frame_shift_s,
                                                    const KwsDecoderConfig& config, const std::string& keyword,
                                                    double target_fa_per_hour, double fine_step,
                                                    const std::vector<double>& grid) {
  if (!(fine_step > 0 && fine_step <= 0.01)) {
    throw std::invalid_argument("RefinedKeywordDetCurve: fine_step must be in (0, 0.01]");
  }
  std::vector<KeywordDetPoint> curve =
      KeywordDetCurve(negatives, negative_hours, positives, labels, frame_shift_s, config, keyword, grid);
  const std::vector<double> fine = FineThresholdsBelow(curve, target_fa_per_hour, fine_step);
  if (fine.empty()) return curve;
  const std::vector<KeywordDetPoint> extra =
      KeywordDetCurve(negatives, negative_hours, positives, labels, frame_shift_s, config, keyword, fine);
  curve.insert(curve.end(), extra.begin(), extra.end());
  std::stable_sort(curve.begin(), curve.end(),
                   [](const KeywordDetPoint& a, const KeywordDetPoint& b) { return a.threshold < b.threshold; });
  return curve;
}

}  // namespace ossicle
