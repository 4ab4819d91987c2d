#include "pipeline/evaluation.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "features/cmvn.h"
#include "features/config-json.h"
#include "features/errors.h"
#include "features/online-features.h"
#include "models/acoustic-model.h"
#include "models/ctc-decoder.h"
#include "models/ctc-keyword-spotter.h"
#include "models/decoder-support.h"
#include "models/kws-decoder.h"
#include "models/safetensors.h"
#include "pipeline/audio-file-reader.h"
#include "pipeline/keyword-calibration.h"
#include "pipeline/manifest.h"
#include "pipeline/stages/model-decoder-defaults.h"
#include "pipeline/text-helpers.h"

namespace ossicle {

void EvaluationConfig::Validate(std::string_view path) const {
  const std::string p(path);
  if (model.empty()) throw ConfigError(p + ".model = \"\"; expected a model file");
  if (manifest.empty()) throw ConfigError(p + ".manifest = \"\"; expected a manifest (TSV) file");
  if (path_column.empty()) throw ConfigError(p + ".path_column = \"\"; expected a column name");
  if (!label_column.empty() && !transcript_column.empty()) {
    throw ConfigError(p + ".label_column = '" + label_column + "' and " + p + ".transcript_column = '" +
                      transcript_column + "'; expected at most one reference column");
  }
  if (!(target_fa_per_hour >= 0) || !std::isfinite(target_fa_per_hour)) {
    throw ConfigError(p + ".target_fa_per_hour = " + std::to_string(target_fa_per_hour) + "; expected >= 0");
  }
  if (threshold && !(*threshold > 0 && *threshold <= 1)) {
    throw ConfigError(p + ".threshold = " + std::to_string(*threshold) + "; expected in (0, 1]");
  }
  if (jobs < 1) throw ConfigError(p + ".jobs = " + std::to_string(jobs) + "; expected >= 1");
  for (size_t i = 0; i < negatives.size(); ++i) {
    const std::string key = p + ".negatives[" + std::to_string(i) + "]";
    if (negatives[i].empty()) throw ConfigError(key + " = \"\"; expected a manifest (TSV) file");
    for (size_t k = 0; k < i; ++k) {
      std::error_code ec;
      if (negatives[k] == negatives[i] || std::filesystem::equivalent(negatives[k], negatives[i], ec)) {
        throw ConfigError(key + " = '" + negatives[i] + "' repeats " + p + ".negatives[" + std::to_string(k) +
                          "]; each negative manifest counts once (its audio would be counted twice)");
      }
    }
  }
}

bool IsFillerLabel(std::string_view label) { return !label.empty() && (label[0] == '_' || label[0] == '<'); }

namespace {

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

EvalScoring ScoringFor(bool attention_head, const std::vector<std::string>& labels) {
  if (attention_head) return EvalScoring::kClip;
  const bool ctc = !labels.empty() && labels[0] == "<blank>";
  if (!ctc) return EvalScoring::kFrameClasses;
  // Word tokens marked as SentencePiece marks a word start spell text, as characters do.
  for (size_t i = 1; i < labels.size(); ++i) {
    if (StartsWithWordMarker(labels[i])) return EvalScoring::kCtcCharacters;
  }
  for (size_t i = 1; i < labels.size(); ++i) {
    if (CodePointCount(labels[i]) > 1 && labels[i] != "<space>") return EvalScoring::kCtcWords;
  }
  return EvalScoring::kCtcCharacters;
}

namespace {

using Clock = std::chrono::steady_clock;

// How a report names a manifest entry: its path as the manifest writes it; for an entry that did not come
// from ReadManifest, its audio path relative to the manifest's folder (else the audio path itself).
std::string DisplayPath(const ManifestEntry& e, const std::filesystem::path& manifest_dir) {
  if (!e.written_path.empty()) return e.written_path;
  std::error_code ec;
  std::string shown = std::filesystem::relative(e.audio_path, manifest_dir.empty() ? "." : manifest_dir, ec).string();
  return ec || shown.empty() ? e.audio_path : shown;
}

std::vector<std::string> HeaderColumns(const std::string& tsv) {
  std::ifstream in(tsv);
  if (!in) throw IoError(tsv + ": cannot open manifest");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    size_t start = 0;
    while (true) {
      const size_t tab = line.find('\t', start);
      cols.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    return cols;
  }
  throw IoError(tsv + ":1: manifest has no header line; expected column names separated by tabs");
}

bool Has(const std::vector<std::string>& cols, const std::string& c) {
  return std::find(cols.begin(), cols.end(), c) != cols.end();
}

// The model's optional "decoder" metadata (an object, or a list of objects of distinct decoder types:
// pipeline/stages/model-decoder-defaults.h): the safetensors metadata key, else provenance.decoder; "" when
// there is none; the caller checks it (DecoderEntries).
std::string DecoderMetadata(const std::string& model_path, const AcousticModel& model) {
  const SafetensorsFile file = SafetensorsFile::Open(model_path);
  const auto& meta = file.Metadata();
  if (auto it = meta.find("decoder"); it != meta.end()) return it->second;  // checked by the caller
  try {
    const nlohmann::json p = nlohmann::json::parse(model.ProvenanceJson());
    if (p.is_object() && p.contains("decoder") && p["decoder"].is_object()) return p["decoder"].dump();
  } catch (const nlohmann::json::exception&) {
  }
  return "";
}

// Applies the keys of `options` that `config` knows (the decoder type and other stages' keys are ignored).
template <class C>
void ApplyKnownKeys(const nlohmann::json& options, C& config, const std::string& where) {
  nlohmann::json known = nlohmann::json::object();
  C::Fields(config, [&](FieldInfo info, auto&) {
    const std::string key(info.name);
    if (options.contains(key)) known[key] = options[key];
  });
  ConfigFromJson(known, config, where);
}

struct Scorer {
  std::shared_ptr<const AcousticModel> model;
  std::shared_ptr<const CmvnStats> cmvn;
  EvalScoring scoring = EvalScoring::kClip;
  ReferenceKind reference_kind = ReferenceKind::kLabel;
  double frame_shift_s = 0.01;
  double threshold = 0.5;
  std::vector<std::string> names;     // what class_scores index: model labels, or manifest keywords (CTC chars)
  std::vector<char> is_keyword;       // per name
  std::string fallback;
  KwsDecoderConfig kws;               // frame_classes
  CtcKeywordSpotterConfig ctc_kws;    // ctc_words / ctc_characters keyword mode
  std::string transcript_decoder = "decoder.ctc_greedy";
  CtcGreedyConfig greedy;
  CtcBeamConfig beam;

  MatrixF LogProbs(const std::string& path, double* duration_s, MatrixF* clip_log_probs, std::string* warning) const {
    AudioReadConfig audio;
    audio.sample_rate_hz = model->Features().frame.sample_rate_hz;
    const std::vector<float> samples = ReadAudioFile(path, audio, warning);
    *duration_s = static_cast<double>(samples.size()) / audio.sample_rate_hz;
    const FeatureMatrix f = ComputeFeatures(model->Features(), samples, cmvn);
    if (f.num_frames == 0) {
      throw AudioError(path + ": too short for one feature frame (" + std::to_string(samples.size()) + " samples)");
    }
    MatrixF x(f.num_frames, f.dim);
    std::copy(f.data.begin(), f.data.end(), x.data());
    ModelOutput y = model->Forward(SingleSequence(x));
    if (clip_log_probs) *clip_log_probs = y.clip_log_probs;
    if (y.log_probs.data.rows() < f.num_frames) return MatrixF();  // attention head: no frame outputs
    return y.log_probs.data.topRows(f.num_frames);
  }

  std::vector<KeywordHit> SpotCtc(const MatrixF& log_probs, const CtcKeywordSpotterConfig& config) const {
    CtcKeywordSpotter spotter(config, model->Labels(), frame_shift_s, "decoder");
    std::vector<KeywordHit> hits = spotter.AcceptFrames(log_probs, 0);
    for (KeywordHit& h : spotter.InputFinished()) hits.push_back(std::move(h));
    return hits;
  }

  // Scores per name for one clip.
  std::vector<double> ClassScores(const MatrixF& log_probs, const MatrixF& clip_log_probs) const {
    std::vector<double> s(names.size(), 0.0);
    if (scoring == EvalScoring::kClip) {
      for (size_t k = 0; k < names.size(); ++k) s[k] = std::exp(static_cast<double>(clip_log_probs(0, static_cast<int64_t>(k))));
    } else if (scoring == EvalScoring::kFrameClasses) {
      const int64_t w = FramesFromMs(kws.smoothing_ms, frame_shift_s, 1);
      const int64_t frames = log_probs.rows();
      for (size_t k = 0; k < names.size(); ++k) {
        double sum = 0.0;
        for (int64_t j = 0; j < frames; ++j) {
          sum += std::exp(static_cast<double>(log_probs(j, static_cast<int64_t>(k))));
          if (j >= w) sum -= std::exp(static_cast<double>(log_probs(j - w, static_cast<int64_t>(k))));
          const double mean = sum / static_cast<double>(std::min(j + 1, w));
          s[k] = std::max(s[k], mean);
        }
      }
      // Keywords: the decoder's own score (the same quantity, computed as the decoder does, so a positive
      // and a false alarm with equal posteriors get bit-equal scores).
      KwsDecoderConfig config = kws;
      config.threshold = kDetFloorThreshold;
      config.keyword_thresholds.clear();
      config.suppression_ms = 0;
      KwsDecoder d(config, model->Labels(), frame_shift_s, "decoder");
      std::vector<KeywordHit> hits = d.AcceptFrames(log_probs, 0);
      for (KeywordHit& h : d.InputFinished()) hits.push_back(std::move(h));
      for (size_t k = 0; k < names.size(); ++k)
        if (is_keyword[k]) s[k] = 0.0;
      for (const KeywordHit& h : hits) {
        const auto it = std::find(names.begin(), names.end(), h.keyword);
        if (it != names.end()) {
          double& v = s[static_cast<size_t>(it - names.begin())];
          v = std::max(v, h.score);
        }
      }
    } else {
      CtcKeywordSpotterConfig config = ctc_kws;
      config.threshold = kDetFloorThreshold;
      config.keyword_thresholds.clear();
      config.suppression_ms = 0;
      for (const KeywordHit& h : SpotCtc(log_probs, config)) {
        const auto it = std::find(names.begin(), names.end(), h.keyword);
        if (it != names.end()) {
          double& v = s[static_cast<size_t>(it - names.begin())];
          v = std::max(v, h.score);
        }
      }
    }
    return s;
  }

  void Predict(const std::vector<double>& s, ClipResult& r) const {
    int best_kw = -1, best_filler = -1;
    for (size_t k = 0; k < names.size(); ++k) {
      int& best = is_keyword[k] ? best_kw : best_filler;
      if (best < 0 || s[k] > s[static_cast<size_t>(best)]) best = static_cast<int>(k);
    }
    auto take = [&](int k) {
      r.prediction = names[static_cast<size_t>(k)];
      r.score = s[static_cast<size_t>(k)];
    };
    if (scoring == EvalScoring::kClip) {
      take(static_cast<int>(std::max_element(s.begin(), s.end()) - s.begin()));
    } else if (best_kw >= 0 && s[static_cast<size_t>(best_kw)] >= threshold) {
      take(best_kw);
    } else if (best_filler >= 0 &&
               (scoring == EvalScoring::kFrameClasses || s[static_cast<size_t>(best_filler)] >= threshold)) {
      take(best_filler);
    } else {
      r.prediction = fallback;
      r.score = 0.0;
    }
    const auto it = std::find(names.begin(), names.end(), r.reference);
    if (it != names.end() && is_keyword[static_cast<size_t>(it - names.begin())]) {
      r.reference_score = s[static_cast<size_t>(it - names.begin())];
    }
  }

  // `keep` (optional): receives the clip's frame log-probabilities.
  void ScoreClip(const std::string& path, ClipResult& r, MatrixF* keep = nullptr) const {
    MatrixF clip;
    const MatrixF lp = LogProbs(path, &r.duration_s, scoring == EvalScoring::kClip ? &clip : nullptr, &r.warning);
    if (keep) *keep = lp;
    if (reference_kind == ReferenceKind::kTranscript) {
      Transcript t;
      if (transcript_decoder == "decoder.ctc_beam") {
        CtcBeamDecoder d(beam, model->Labels(), frame_shift_s, "decoder");
        d.AcceptFrames(lp, 0);
        t = d.InputFinished();
      } else {
        CtcGreedyDecoder d(greedy, model->Labels(), frame_shift_s, "decoder");
        d.AcceptFrames(lp, 0);
        t = d.InputFinished();
      }
      r.prediction = t.text;
      r.score = t.confidence;
      return;
    }
    Predict(ClassScores(lp, clip), r);
  }

  // False-alarm events in one negative file.
  std::vector<FalseAlarm> Events(const std::string& path, const std::string& shown, double* duration_s,
                                 std::string* warning, MatrixF* keep = nullptr) const {
    MatrixF clip;
    const MatrixF lp = LogProbs(path, duration_s, scoring == EvalScoring::kClip ? &clip : nullptr, warning);
    if (keep) *keep = lp;
    std::vector<FalseAlarm> out;
    auto add = [&](const KeywordHit& h) {
      if (!IsFillerLabel(h.keyword)) out.push_back({shown, h.keyword, h.start_s, h.end_s, h.score});
    };
    if (scoring == EvalScoring::kClip) {
      const std::vector<double> s = ClassScores(lp, clip);
      int best = -1;
      for (size_t k = 0; k < names.size(); ++k) {
        if (is_keyword[k] && (best < 0 || s[k] > s[static_cast<size_t>(best)])) best = static_cast<int>(k);
      }
      if (best >= 0) out.push_back({shown, names[static_cast<size_t>(best)], 0.0, *duration_s, s[static_cast<size_t>(best)]});
    } else if (scoring == EvalScoring::kFrameClasses) {
      KwsDecoderConfig config = kws;
      config.threshold = kDetFloorThreshold;
      config.keyword_thresholds.clear();
      KwsDecoder d(config, model->Labels(), frame_shift_s, "decoder");
      for (const KeywordHit& h : d.AcceptFrames(lp, 0)) add(h);
      for (const KeywordHit& h : d.InputFinished()) add(h);
    } else {
      CtcKeywordSpotterConfig config = ctc_kws;
      config.threshold = kDetFloorThreshold;
      config.keyword_thresholds.clear();
      for (const KeywordHit& h : SpotCtc(lp, config)) add(h);
    }
    return out;
  }
};

// Runs `work(i)` for i in [0, n) on `jobs` threads; the first exception that escapes is rethrown.
void ParallelFor(int64_t n, int jobs, const std::function<void(int64_t)>& work) {
  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto loop = [&] {
    for (int64_t i = next++; i < n; i = next++) {
      try {
        work(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> threads;
  const int extra = static_cast<int>(std::min<int64_t>(jobs, std::max<int64_t>(n, 1))) - 1;
  for (int t = 0; t < extra; ++t) threads.emplace_back(loop);
  loop();
  for (std::thread& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
}

// The DET of a frame-classifier keyword spotter counted by its decoder (the model's decoder options: smoothing,
// window, minimum duration, suppression) at each threshold, exactly as `ossicle spot` would report hits: the
// thresholds of ThresholdGrid() from the floor up, just above the strongest floor events around each target's
// allowance, and 0.001 steps below each target's chosen threshold (as `keyword-train` calibrates).
void CountedKeywordDet(const KeywordDetFiles& files, const Scorer& sc, double target_fa_per_hour, int jobs,
                       EvaluationResult& result) {
  const double hours = result.negative_hours;
  const int64_t positives = static_cast<int64_t>(files.positives.size());
  auto count_all = [&](const std::vector<double>& thresholds) {
    std::vector<DetCounts> counts(thresholds.size());
    ParallelFor(static_cast<int64_t>(thresholds.size()), jobs, [&](int64_t i) {
      counts[static_cast<size_t>(i)] =
          CountKeywordHits(files, sc.model->Labels(), sc.frame_shift_s, sc.kws, thresholds[static_cast<size_t>(i)]);
    });
    std::map<double, DetCounts> by_threshold;
    for (size_t i = 0; i < thresholds.size(); ++i) by_threshold[thresholds[i]] = counts[i];
    return CountedDetCurve([&](double t) { return by_threshold.at(t); }, positives, hours, thresholds);
  };
  std::vector<double> thresholds;
  for (double t : ThresholdGrid()) {
    if (t >= kDetFloorThreshold) thresholds.push_back(t);
  }
  const std::vector<double> targets = {1.0, target_fa_per_hour};
  const std::vector<double>& events = result.det_input.negative_scores;  // highest first
  for (double target : targets) {
    const int64_t allowed = static_cast<int64_t>(std::floor(target * hours + 1e-9));
    constexpr int64_t kAround = 16;
    for (int64_t j = std::max<int64_t>(0, allowed - kAround);
         j < std::min<int64_t>(static_cast<int64_t>(events.size()), allowed + kAround); ++j) {
      const double t = std::nextafter(events[static_cast<size_t>(j)], 2.0);
      if (t >= kDetFloorThreshold && t <= 1.0) thresholds.push_back(t);
    }
  }
  std::vector<KeywordDetPoint> curve = count_all(thresholds);
  std::vector<double> fine;
  for (double target : targets) {
    const std::vector<double> below = FineThresholdsBelow(curve, target);
    fine.insert(fine.end(), below.begin(), below.end());
  }
  if (!fine.empty()) {
    thresholds.insert(thresholds.end(), fine.begin(), fine.end());
    curve = count_all(thresholds);
  }
  auto to_det = [&](const KeywordDetPoint& p) {
    DetPoint d;
    d.threshold = p.threshold;
    d.misses = p.misses;
    d.false_alarms = p.false_alarms;
    d.false_reject_rate = p.miss_rate;
    d.false_alarms_per_hour = p.fa_per_hour;
    return d;
  };
  result.det.clear();
  for (const KeywordDetPoint& p : curve) result.det.push_back(to_det(p));
  auto operating = [&](double target) {
    OperatingPoint op;
    op.point = to_det(ThresholdForFaRate(curve, target));
    op.target_fa_per_hour = target;
    op.reachable = op.point.false_alarms_per_hour <= target;
    return op;
  };
  result.at_1_fa_per_hour = operating(1.0);
  result.at_target = operating(target_fa_per_hour);
  result.det_counted = true;
}

std::string ModelDescription(const AcousticModel& m) {
  const ModelArchitecture& a = m.Architecture();
  // An ensemble: "ensemble of 4 LSTM 2x128" (members of one size) or "ensemble of 2 LSTM 2x(128, 64)".
  std::string hidden = std::to_string(a.hidden_size), prefix;
  if (a.ensemble_size > 1) prefix = "ensemble of " + std::to_string(a.ensemble_size) + " ";
  const std::vector<int>& sizes = m.EnsembleHiddenSizes();
  if (!sizes.empty()) {
    const bool same = std::all_of(sizes.begin(), sizes.end(), [&](int h) { return h == sizes.front(); });
    if (!same) {
      hidden = "(";
      for (size_t i = 0; i < sizes.size(); ++i) hidden += (i > 0 ? ", " : "") + std::to_string(sizes[i]);
      hidden += ")";
    } else {
      hidden = std::to_string(sizes.front());
    }
  }
  return prefix + (a.cell == CellType::kLstm ? "LSTM" : "GRU") + " " + std::to_string(a.num_layers) + "x" + hidden +
         (a.bidirectional ? " bidirectional" : "") + ", " +
         (a.head == HeadType::kAttention ? "attention" : "frame") + " head, " + std::to_string(m.NumParameters()) +
         " parameters, " + std::to_string(m.Labels().size()) + " labels";
}

}  // namespace

EvaluationResult Evaluate(const EvaluationConfig& config) {
  config.Validate();
  EvaluationResult result;
  result.config = config;
  result.config.on_progress = nullptr;

  Scorer sc;
  sc.model = AcousticModel::Load(config.model);
  const AcousticModel& model = *sc.model;
  result.model_labels = model.Labels();
  result.model_description = ModelDescription(model);
  if (model.Features().cmvn.mode == CmvnMode::kGlobal) {
    sc.cmvn = std::make_shared<const CmvnStats>(CmvnStats::Load(model.Features().cmvn.stats_file));
  }
  sc.frame_shift_s = model.Features().frame.frame_shift_ms / 1000.0;
  sc.scoring = ScoringFor(model.Architecture().head == HeadType::kAttention, model.Labels());
  result.scoring = sc.scoring;

  // Decoder defaults from the model: the options of each decoder type it names (as the decoder stages take
  // them); a model may name several (digits: decoder.ctc_keywords for keyword mode, decoder.ctc_beam for
  // transcript mode).
  const std::string decoder_text = DecoderMetadata(config.model, model);
  if (!decoder_text.empty()) result.decoder_json = nlohmann::json::parse(decoder_text).dump();
  const std::string where = config.model + ": metadata decoder";
  const std::vector<nlohmann::json> decoder_entries = DecoderEntries(decoder_text, config.model);
  auto entry = [&](std::string_view type) {
    for (const nlohmann::json& e : decoder_entries)
      if (e.at("type") == type) return e;
    return nlohmann::json();
  };
  const nlohmann::json kws_entry = entry("decoder.keywords");
  const nlohmann::json ctc_kws_entry = entry("decoder.ctc_keywords");
  const nlohmann::json greedy_entry = entry("decoder.ctc_greedy");
  const nlohmann::json beam_entry = entry("decoder.ctc_beam");
  if (kws_entry.is_object()) ApplyKnownKeys(kws_entry, sc.kws, where);
  if (ctc_kws_entry.is_object()) ApplyKnownKeys(ctc_kws_entry, sc.ctc_kws, where);
  if (greedy_entry.is_object()) ApplyKnownKeys(greedy_entry, sc.greedy, where);
  if (beam_entry.is_object()) {
    ApplyKnownKeys(beam_entry, sc.beam, where);
    sc.transcript_decoder = "decoder.ctc_beam";
  }
  // The threshold: the first entry that has one (keyword decoders are the ones that do).
  nlohmann::json decoder = nlohmann::json::object();
  for (const nlohmann::json& e : decoder_entries) {
    if (e.contains("threshold")) {
      decoder = e;
      break;
    }
  }
  if (config.threshold) {
    sc.threshold = *config.threshold;
    result.threshold_source = "--threshold";
  } else if (decoder.contains("threshold") && decoder["threshold"].is_number()) {
    sc.threshold = decoder["threshold"].get<double>();
    result.threshold_source = "model metadata";
  } else {
    sc.threshold = 0.5;
    result.threshold_source = "default";
  }
  result.threshold = sc.threshold;
  // A CTC model with a keyword list of its own (decoder.ctc_keywords metadata) spots exactly those words.
  std::vector<std::string> own_keywords;
  if (sc.scoring == EvalScoring::kCtcCharacters && ctc_kws_entry.is_object()) {
    own_keywords = SplitList(sc.ctc_kws.keywords);
  }
  const std::set<std::string> own_keyword_set(own_keywords.begin(), own_keywords.end());

  // The reference column.
  const std::vector<std::string> header = HeaderColumns(config.manifest);
  if (!Has(header, config.path_column)) {
    throw ConfigError(config.manifest + ":1: eval.path_column = '" + config.path_column +
                      "': no such column; the header has " + JoinNames(header));
  }
  auto read = [&](const std::string& column) {
    ManifestColumns c;
    c.path = config.path_column;
    c.label = column;
    return ReadManifest(config.manifest, c);
  };
  std::vector<ManifestEntry> entries;
  if (!config.label_column.empty() || !config.transcript_column.empty()) {
    const std::string& col = config.label_column.empty() ? config.transcript_column : config.label_column;
    if (!Has(header, col)) {
      throw ConfigError(config.manifest + ":1: --columns " + std::string(config.label_column.empty() ? "transcript" : "label") +
                        "=" + col + ": no such column; the header has " + JoinNames(header));
    }
    result.reference_column = col;
    result.reference_kind = config.label_column.empty() ? ReferenceKind::kTranscript : ReferenceKind::kLabel;
    result.reference_column_reason = "given";
    entries = read(col);
  } else {
    std::vector<std::string> label_cols, text_cols;
    for (const char* c : {"label", "keyword"})
      if (Has(header, c)) label_cols.emplace_back(c);
    for (const char* c : {"transcript", "text", "sentence", "word"})
      if (Has(header, c)) text_cols.emplace_back(c);
    std::vector<std::string> candidates = label_cols;
    candidates.insert(candidates.end(), text_cols.begin(), text_cols.end());
    // The candidate whose values are most often in `wanted` (first on ties; -1 when there is none); sets
    // result.reference_column and entries.
    auto best_column = [&](const std::set<std::string>& wanted) {
      double best_fraction = -1.0;
      for (const std::string& c : candidates) {
        std::vector<ManifestEntry> e = read(c);
        int64_t matched = 0;
        for (const ManifestEntry& x : e) matched += wanted.count(x.label) ? 1 : 0;
        const double fraction = e.empty() ? 0.0 : static_cast<double>(matched) / static_cast<double>(e.size());
        if (fraction > best_fraction) {
          best_fraction = fraction;
          result.reference_column = c;
          entries = std::move(e);
        }
      }
      return best_fraction;
    };
    if (!own_keywords.empty()) {
      const double best_fraction = best_column(own_keyword_set);
      if (!candidates.empty() && best_fraction <= 0) {
        throw ConfigError(config.manifest + ": no column holds the keywords of " + config.model +
                          "'s decoder metadata (" + sc.ctc_kws.keywords + "); tried " + JoinNames(candidates) +
                          "; choose one with --columns keyword=COLUMN");
      }
      result.reference_kind = ReferenceKind::kLabel;
      result.reference_column_reason =
          "auto: the model's decoder metadata is a keyword list, and " +
          std::to_string(static_cast<int>(std::lround(100 * best_fraction))) +
          "% of this column's values are its keywords (candidates: " + JoinNames(candidates) + ")";
    } else if (sc.scoring == EvalScoring::kCtcCharacters) {
      if (!text_cols.empty()) {
        result.reference_column = text_cols[0];
        result.reference_kind = ReferenceKind::kTranscript;
        result.reference_column_reason = "character CTC model: first transcript column";
      } else if (!label_cols.empty()) {
        result.reference_column = label_cols[0];
        result.reference_kind = ReferenceKind::kLabel;
        result.reference_column_reason = "character CTC model, no transcript column: keyword spotting";
      }
      if (!result.reference_column.empty()) entries = read(result.reference_column);
    } else {
      const double best_fraction = best_column(std::set<std::string>(model.Labels().begin(), model.Labels().end()));
      if (!result.reference_column.empty()) {
        result.reference_kind = ReferenceKind::kLabel;
        result.reference_column_reason =
            "auto: " + std::to_string(static_cast<int>(std::lround(100 * best_fraction))) +
            "% of its values are model labels (candidates: " + JoinNames(candidates) + ")";
        if (best_fraction <= 0) {
          throw ConfigError(config.manifest + ": no column holds the model's labels (" + JoinNames(model.Labels()) +
                            "); tried " + JoinNames(candidates) + "; choose one with --columns label=COLUMN");
        }
      }
    }
    if (result.reference_column.empty()) {
      throw ConfigError(config.manifest + ":1: no reference column (label, keyword, transcript, text, word); the header has " +
                        JoinNames(header) + "; choose one with --columns label=COLUMN or transcript=COLUMN");
    }
  }
  sc.reference_kind = result.reference_kind;
  if (sc.reference_kind == ReferenceKind::kTranscript) result.transcript_decoder = sc.transcript_decoder;
  if (sc.reference_kind == ReferenceKind::kTranscript && sc.scoring != EvalScoring::kCtcCharacters) {
    throw ConfigError("--columns transcript=" + result.reference_column +
                      ": transcripts need a CTC model whose tokens spell text (characters, or words marked with "
                      "U+2581); " +
                      config.model + " is scored as " + std::string(EnumToString(sc.scoring)) +
                      " (use a label column)");
  }

  // References the model cannot answer with (another keyword's recordings in a wake-word manifest, for a
  // class model; any word outside a decoder.ctc_keywords list): a class model with an "_unknown_" filler is
  // right to reject them, so they count as "_unknown_"; a keyword list's spotter is right to stay silent, so
  // they count as "(none)"; a class model without "_unknown_" keeps them, errors it cannot avoid. Either way
  // the report says which and how many.
  std::set<std::string> answerable;
  std::string note_prefix;
  bool check_references = false;
  if (sc.reference_kind == ReferenceKind::kLabel && !own_keywords.empty()) {
    check_references = true;
    answerable = own_keyword_set;
    result.foreign_references_as = std::string(kNoPrediction);
    note_prefix = "references that are not keywords of the model's decoder metadata count as (none) (no hit is the "
                  "right answer): ";
  } else if (sc.reference_kind == ReferenceKind::kLabel &&
             (sc.scoring == EvalScoring::kFrameClasses || sc.scoring == EvalScoring::kClip)) {
    check_references = true;
    answerable = std::set<std::string>(model.Labels().begin(), model.Labels().end());
    const bool has_unknown = answerable.count(std::string(kUnknownReference)) > 0;
    result.foreign_references_as = has_unknown ? std::string(kUnknownReference) : std::string();
    note_prefix = has_unknown ? "references that are not model labels count as _unknown_ (the model is right to "
                                "reject them): "
                              : "references that are not model labels, and the model has no _unknown_ label: they "
                                "count as errors: ";
  }
  if (check_references) {
    for (ManifestEntry& e : entries) {
      if (answerable.count(e.label)) continue;
      ++result.foreign_references[e.label];
      if (!result.foreign_references_as.empty()) e.label = result.foreign_references_as;
    }
    if (result.foreign_references.empty()) {
      result.foreign_references_as.clear();
    } else {
      std::string list;
      for (const auto& [label, n] : result.foreign_references) {
        list += (list.empty() ? "" : ", ") + label + " (" + std::to_string(n) + ")";
      }
      result.notes.push_back(note_prefix + list);
    }
  }

  // Names the scores index and the fallback prediction.
  std::set<std::string> references;
  for (const ManifestEntry& e : entries) references.insert(e.label);
  sc.fallback = references.count("_silence_") && own_keywords.empty() ? "_silence_" : std::string(kNoPrediction);
  if (!own_keywords.empty() && sc.reference_kind == ReferenceKind::kLabel) {
    sc.names = own_keywords;
  } else if (sc.scoring == EvalScoring::kCtcCharacters) {
    for (const std::string& r : references)
      if (!IsFillerLabel(r) && !r.empty()) sc.names.push_back(r);
  } else {
    for (size_t k = 0; k < model.Labels().size(); ++k) {
      if (sc.scoring != EvalScoring::kClip && sc.scoring != EvalScoring::kFrameClasses && k == 0) continue;
      sc.names.push_back(model.Labels()[k]);
    }
  }
  for (const std::string& n : sc.names) sc.is_keyword.push_back(IsFillerLabel(n) ? 0 : 1);
  if (sc.scoring == EvalScoring::kCtcWords || sc.scoring == EvalScoring::kCtcCharacters) {
    std::string kw;
    for (const std::string& n : sc.names) kw += (kw.empty() ? "" : ",") + n;
    sc.ctc_kws.keywords = kw;
  }
  if (sc.scoring == EvalScoring::kCtcCharacters && sc.reference_kind == ReferenceKind::kLabel && sc.names.empty()) {
    throw ConfigError(config.manifest + ": column '" + result.reference_column + "' holds no keyword to spot");
  }
  if (sc.scoring == EvalScoring::kFrameClasses) {
    if (sc.kws.keywords.empty()) {  // the contract's fillers: labels starting with '_' or '<'
      for (const std::string& l : model.Labels())
        if (!IsFillerLabel(l)) sc.kws.keywords += (sc.kws.keywords.empty() ? "" : ",") + l;
    }
    // Fail early (ConfigError) when the decoder settings do not fit the labels.
    KwsDecoder check(sc.kws, model.Labels(), sc.frame_shift_s, "decoder");
  }

  // Score the manifest.
  const std::filesystem::path base = std::filesystem::path(config.manifest).parent_path();
  result.clips.resize(entries.size());
  std::mutex progress_mutex;
  int64_t done = 0;
  const auto wall_start = Clock::now();
  const std::clock_t cpu_start = std::clock();
  // A frame-classifier keyword spotter with negatives: its DET is counted by the decoder itself at each
  // threshold (CountKeywordHits), so every clip's and negative file's log-probabilities are kept.
  const bool counted_det = !config.negatives.empty() && sc.scoring == EvalScoring::kFrameClasses &&
                           result.reference_kind == ReferenceKind::kLabel;
  std::vector<MatrixF> clip_log_probs(counted_det ? entries.size() : 0);
  ParallelFor(static_cast<int64_t>(entries.size()), config.jobs, [&](int64_t i) {
    const ManifestEntry& e = entries[static_cast<size_t>(i)];
    ClipResult& r = result.clips[static_cast<size_t>(i)];
    r.path = DisplayPath(e, base);
    r.line = e.line;
    r.reference = e.label;
    try {
      sc.ScoreClip(e.audio_path, r, counted_det ? &clip_log_probs[static_cast<size_t>(i)] : nullptr);
      if (config.skip_damaged && !r.warning.empty()) r.error = "left out (--skip-damaged): " + r.warning;
    } catch (const Error& err) {
      r.error = err.what();
    }
    std::lock_guard<std::mutex> lock(progress_mutex);
    ++done;
    if (config.on_progress) config.on_progress(done, static_cast<int64_t>(entries.size()));
  });
  result.wall_seconds = std::chrono::duration<double>(Clock::now() - wall_start).count();
  result.cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;

  // Metrics over the clips that worked.
  std::vector<std::string> refs, preds;
  int64_t exact = 0;
  EditCounts words, chars;
  KeywordDetFiles det_files;  // counted_det: the positives' log-probs and keywords, then the negatives'
  for (size_t i = 0; i < result.clips.size(); ++i) {
    const ClipResult& r = result.clips[i];
    if (!r.warning.empty()) result.audio_warnings.push_back(r);
    if (!r.error.empty()) {
      ++result.num_errors;
      continue;
    }
    result.audio_seconds += r.duration_s;
    refs.push_back(r.reference);
    preds.push_back(r.prediction);
    if (result.reference_kind == ReferenceKind::kTranscript) {
      words += WordEdits(r.reference, r.prediction);
      chars += CharEdits(r.reference, r.prediction);
      exact += NormalizeText(r.reference) == NormalizeText(r.prediction) ? 1 : 0;
    } else if (r.reference_score >= 0) {
      result.det_input.positive_scores.push_back(r.reference_score);
      if (counted_det) {
        det_files.positives.push_back(std::move(clip_log_probs[i]));
        det_files.positive_keywords.push_back(r.reference);
      }
    }
  }
  clip_log_probs = {};  // the other clips' log-probs are not needed
  if (result.reference_kind == ReferenceKind::kLabel) {
    std::vector<std::string> order;
    for (const std::string& l : model.Labels())
      if (l != "<blank>" && (references.count(l) || sc.scoring == EvalScoring::kClip)) order.push_back(l);
    result.confusion = BuildConfusion(refs, preds, order);
    result.per_class = PerClassMetrics(*result.confusion);
    result.accuracy = result.confusion->Accuracy();
  } else {
    result.word_edits = words;
    result.char_edits = chars;
    result.accuracy = refs.empty() ? 0.0 : static_cast<double>(exact) / static_cast<double>(refs.size());
  }

  // Negatives.
  if (!config.negatives.empty()) {
    if (result.reference_kind == ReferenceKind::kTranscript) {
      result.notes.push_back("--negatives ignored: false alarms need keyword references (this manifest has transcripts)");
    } else {
      result.has_negatives = true;
      ManifestColumns nc;
      nc.path = config.path_column;
      std::vector<ManifestEntry> neg;
      std::vector<std::filesystem::path> nbase;  // each entry's manifest folder, for display
      for (const std::string& manifest : config.negatives) {
        std::vector<ManifestEntry> part = ReadManifest(manifest, nc);
        nbase.insert(nbase.end(), part.size(), std::filesystem::path(manifest).parent_path());
        neg.insert(neg.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
      }
      result.negative_files = static_cast<int64_t>(neg.size());
      std::vector<std::vector<FalseAlarm>> events(neg.size());
      std::vector<ClipResult> status(neg.size());
      std::vector<double> durations(neg.size(), 0.0);
      std::vector<MatrixF> neg_log_probs(counted_det ? neg.size() : 0);
      ParallelFor(static_cast<int64_t>(neg.size()), config.jobs, [&](int64_t i) {
        const ManifestEntry& e = neg[static_cast<size_t>(i)];
        ClipResult& s = status[static_cast<size_t>(i)];
        s.path = DisplayPath(e, nbase[static_cast<size_t>(i)]);
        s.line = e.line;
        s.negatives = true;
        try {
          events[static_cast<size_t>(i)] = sc.Events(e.audio_path, s.path, &durations[static_cast<size_t>(i)],
                                                     &s.warning,
                                                     counted_det ? &neg_log_probs[static_cast<size_t>(i)] : nullptr);
          if (config.skip_damaged && !s.warning.empty()) s.error = "left out (--skip-damaged): " + s.warning;
        } catch (const Error& err) {
          s.error = err.what();
        }
      });
      double seconds = 0.0;
      for (size_t i = 0; i < neg.size(); ++i) {
        if (!status[i].warning.empty()) result.audio_warnings.push_back(status[i]);
        if (!status[i].error.empty()) {
          result.negative_errors.push_back(status[i]);
          continue;
        }
        seconds += durations[i];
        for (FalseAlarm& fa : events[i]) result.false_alarms.push_back(std::move(fa));
        if (counted_det) det_files.negatives.push_back(std::move(neg_log_probs[i]));
      }
      std::stable_sort(result.false_alarms.begin(), result.false_alarms.end(),
                       [](const FalseAlarm& a, const FalseAlarm& b) { return a.score > b.score; });
      for (const FalseAlarm& fa : result.false_alarms) result.det_input.negative_scores.push_back(fa.score);
      result.negative_hours = seconds / 3600.0;
      result.det_input.negative_hours = result.negative_hours;
      if (sc.scoring == EvalScoring::kClip) {
        result.notes.push_back("attention-head model: no streaming decoder, so each negative file is one event "
                               "scored by its best keyword posterior");
      }
      if (result.negative_hours > 0 && counted_det) {
        CountedKeywordDet(det_files, sc, config.target_fa_per_hour, config.jobs, result);
      } else if (result.negative_hours > 0) {
        result.det = DetCurve(result.det_input);
        result.at_1_fa_per_hour = ThresholdForFalseAlarmRate(result.det_input, 1.0, kDetFloorThreshold);
        result.at_target = ThresholdForFalseAlarmRate(result.det_input, config.target_fa_per_hour, kDetFloorThreshold);
        if (sc.scoring != EvalScoring::kClip) {
          result.notes.push_back("DET from the events found at the floor threshold: a CTC keyword spotter's hits "
                                 "are not counted again at each threshold, so its figures are approximate");
        }
      } else {
        result.notes.push_back("no negative audio could be read: no false-alarm figures");
      }
      if (result.det_input.positive_scores.empty()) {
        result.notes.push_back("no manifest clip has a keyword reference: false-reject rates are 0 by definition");
      }
    }
  }

  if (!result.audio_warnings.empty()) {
    const size_t n = result.audio_warnings.size();
    result.notes.push_back(fmt::format(
        "{} file{} read with a warning (damaged or truncated audio: \"Audio warnings\" below, clips.tsv column "
        "`warning`): {}",
        n, n == 1 ? " was" : "s were",
        config.skip_damaged ? "left out of every figure (--skip-damaged)"
                            : "scored as they decoded (--skip-damaged leaves them out)"));
  }

  // Learning curves: --run-dir, else the model's folder when it holds a training run's metrics.
  if (!config.run_dir.empty()) {
    result.run_dir = config.run_dir;
  } else {
    const std::filesystem::path dir = std::filesystem::path(config.model).parent_path();
    if (std::filesystem::exists((dir.empty() ? std::filesystem::path(".") : dir) / "metrics.jsonl")) {
      result.run_dir = dir.empty() ? "." : dir.string();
    }
  }
  return result;
}

}  // namespace ossicle
