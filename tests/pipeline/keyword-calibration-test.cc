// Threshold calibration on hand-made posteriors (pipeline/keyword-calibration.h), the model's "decoder"
// metadata round trip, and decoder stages taking it as their defaults.
#include "pipeline/keyword-calibration.h"

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "features/errors.h"
#include "models/ctc-decoder.h"
#include "models/ctc-keyword-spotter.h"
#include "pipeline/graph-runner.h"
#include "pipeline/graph-test-support.h"
#include "pipeline/stages/model-decoder-defaults.h"

namespace ossicle {
namespace {

using Catch::Contains;

const std::vector<std::string> kCalibrationLabels = {"jarvis", "_unknown_"};

// `frames` frames of log-posteriors: "jarvis" at p in [from, to), 0.01 elsewhere; "_unknown_" the rest.
MatrixF Posteriors(int64_t frames, int64_t from, int64_t to, double p) {
  MatrixF m(frames, 2);
  for (int64_t t = 0; t < frames; ++t) {
    const double q = t >= from && t < to ? p : 0.01;
    m(t, 0) = static_cast<float>(std::log(q));
    m(t, 1) = static_cast<float>(std::log(1.0 - q));
  }
  return m;
}

// Negatives, half an hour: one bump at 0.645 (40 frames: the smoothed peak reaches it), one at 0.345, and a
// file with two separate bumps at 0.445 (2 s apart: suppression does not merge them).
std::vector<MatrixF> CalibrationNegatives() {
  MatrixF two = Posteriors(600, 50, 90, 0.445);
  two.block(400, 0, 40, 2) = Posteriors(40, 0, 40, 0.445);
  return {Posteriors(300, 100, 140, 0.645), Posteriors(300, 50, 90, 0.345), two};
}

// Positives: two clear, one weak.
std::vector<MatrixF> CalibrationPositives() {
  return {Posteriors(200, 60, 110, 0.955), Posteriors(200, 60, 110, 0.905), Posteriors(200, 60, 110, 0.405)};
}

KwsDecoderConfig Decoder() {
  KwsDecoderConfig c;
  c.keywords = "jarvis";
  return c;
}

TEST_CASE("KeywordDetCurve counts the decoder's hits per threshold, ThresholdForFaRate picks the lowest that meets the "
          "target",
          "[keyword][calibration]") {
  const std::vector<MatrixF> negatives = CalibrationNegatives();
  const std::vector<MatrixF> positives = CalibrationPositives();
  const auto curve = KeywordDetCurve(negatives, 0.5, positives, kCalibrationLabels, 0.010, Decoder(), "jarvis");
  REQUIRE(curve.size() == ThresholdGrid().size());
  auto at = [&](double t) {
    for (const auto& p : curve) {
      if (std::abs(p.threshold - t) < 1e-9) return p;
    }
    FAIL("no grid point " << t);
    return KeywordDetPoint{};
  };
  CHECK(at(0.30).false_alarms == 4);
  CHECK(at(0.30).fa_per_hour == Approx(8.0));
  CHECK(at(0.30).misses == 0);
  CHECK(at(0.40).false_alarms == 3);
  CHECK(at(0.50).false_alarms == 1);
  CHECK(at(0.50).misses == 1);
  CHECK(at(0.50).miss_rate == Approx(1.0 / 3.0));
  CHECK(at(0.65).false_alarms == 0);
  CHECK(at(0.92).misses == 2);
  CHECK(at(0.96).misses == 3);

  // Target 1/h over half an hour: no false alarm allowed -> 0.65; 2/h: one allowed -> 0.45.
  const KeywordDetPoint strict = ThresholdForFaRate(curve, 1.0);
  CHECK(strict.threshold == Approx(0.65));
  CHECK(strict.false_alarms == 0);
  CHECK(strict.misses == 1);
  CHECK(ThresholdForFaRate(curve, 2.0).threshold == Approx(0.45));
  CHECK(ThresholdForFaRate(curve, 100.0).threshold == Approx(0.01));
}

TEST_CASE("RefinedKeywordDetCurve puts the threshold within 0.001 above the false alarm that must go",
          "[keyword][calibration]") {
  // The negatives and positives of the test above: on the 0.01 grid 1/h gives 0.65 and 2/h 0.45, up to 0.005 above
  // the bump that must go (0.645, 0.445). The refined curve adds 0.641..0.649 (resp. 0.441..0.449) and lands on the
  // first step that drops the bump.
  const std::vector<MatrixF> negatives = CalibrationNegatives();
  const std::vector<MatrixF> positives = CalibrationPositives();
  const auto strict =
      RefinedKeywordDetCurve(negatives, 0.5, positives, kCalibrationLabels, 0.010, Decoder(), "jarvis", 1.0);
  CHECK(strict.size() == ThresholdGrid().size() + 9);
  CHECK(std::is_sorted(strict.begin(), strict.end(),
                       [](const KeywordDetPoint& a, const KeywordDetPoint& b) { return a.threshold < b.threshold; }));
  const KeywordDetPoint p1 = ThresholdForFaRate(strict, 1.0);
  CHECK(p1.threshold == Approx(0.645).margin(0.0011));  // 0.645 itself when the float peak rounds below it
  CHECK(p1.false_alarms == 0);
  CHECK(p1.misses == 1);
  const auto loose =
      RefinedKeywordDetCurve(negatives, 0.5, positives, kCalibrationLabels, 0.010, Decoder(), "jarvis", 2.0);
  const KeywordDetPoint p2 = ThresholdForFaRate(loose, 2.0);
  CHECK(p2.threshold == Approx(0.445).margin(0.0011));
  CHECK(p2.false_alarms == 1);
  // A target every grid point meets: the lowest grid point, nothing to refine below it.
  CHECK(RefinedKeywordDetCurve(negatives, 0.5, positives, kCalibrationLabels, 0.010, Decoder(), "jarvis", 100.0)
            .size() == ThresholdGrid().size());
  CHECK_THROWS_AS(RefinedKeywordDetCurve(negatives, 0.5, positives, kCalibrationLabels, 0.010, Decoder(), "jarvis",
                                         1.0, 0.0),
                  std::invalid_argument);
}

TEST_CASE("ThresholdForFaRate falls back to the fewest false alarms when no threshold meets the target",
          "[keyword][calibration]") {
  const std::vector<KeywordDetPoint> curve = {{0.2, 9, 9.0, 0, 0.0}, {0.5, 4, 4.0, 1, 0.1}, {0.8, 2, 2.0, 3, 0.3},
                                       {0.9, 2, 2.0, 5, 0.5}};
  const KeywordDetPoint p = ThresholdForFaRate(curve, 1.0);
  CHECK(p.threshold == Approx(0.9));
  CHECK(p.false_alarms == 2);
  CHECK_THROWS_AS(ThresholdForFaRate({}, 1.0), std::invalid_argument);
}

// Labels yes, no, _unknown_: `yes` and `no` at 0.01 except where `bumps` set them ({label column, from, to, p}).
struct Bump {
  int64_t column, from, to;
  double p;
};
MatrixF TwoKeywordPosteriors(int64_t frames, const std::vector<Bump>& bumps) {
  MatrixF m(frames, 3);
  for (int64_t t = 0; t < frames; ++t) {
    double q[2] = {0.01, 0.01};
    for (const Bump& b : bumps) {
      if (t >= b.from && t < b.to) q[b.column] = b.p;
    }
    m(t, 0) = static_cast<float>(std::log(q[0]));
    m(t, 1) = static_cast<float>(std::log(q[1]));
    m(t, 2) = static_cast<float>(std::log(1.0 - q[0] - q[1]));
  }
  return m;
}

TEST_CASE("CountKeywordHits counts every keyword's hits at the threshold itself, not the floor events' scores",
          "[keyword][calibration]") {
  const std::vector<std::string> labels = {"yes", "no", "_unknown_"};
  KwsDecoderConfig config;  // every non-filler label; smoothing 100 ms, minimum duration 50 ms, span fraction 0.5
  KeywordDetFiles files;
  // A "yes" plateau at 0.19 (30 frames) with a 3-frame spike at 0.9: the smoothed peak is (3 x 0.9 + 7 x 0.19) / 10
  // = 0.403. Its span runs where the raw posterior reaches half the threshold: the whole plateau (300 ms) at
  // thresholds up to 0.38, only the spike (30 ms, under the 50 ms minimum) from 0.40 on.
  files.negatives.push_back(TwoKeywordPosteriors(200, {{0, 50, 80, 0.19}, {0, 64, 67, 0.9}}));
  // A "no" bump at 0.6 (40 frames) in another file.
  files.negatives.push_back(TwoKeywordPosteriors(200, {{1, 100, 140, 0.6}}));
  // Positives: a clear "no", and a "no" clip on which only "yes" fires (a miss, not a detection).
  files.positives = {TwoKeywordPosteriors(100, {{1, 20, 60, 0.9}}), TwoKeywordPosteriors(100, {{0, 20, 60, 0.9}})};
  files.positive_keywords = {"no", "no"};

  // At the floor the plateau is one hit scored 0.403: scores alone would count it as a false alarm at 0.40.
  KwsDecoderConfig floor = config;
  floor.threshold = 0.02;
  KwsDecoder decoder(floor, labels, 0.010);
  std::vector<KeywordHit> hits = decoder.AcceptFrames(files.negatives[0], 0);
  for (KeywordHit& h : decoder.InputFinished()) hits.push_back(std::move(h));
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].score == Approx(0.403).margin(1e-4));

  const DetCounts at30 = CountKeywordHits(files, labels, 0.010, config, 0.30);
  CHECK(at30.false_alarms == 2);  // the plateau and the "no" bump
  CHECK(at30.misses == 1);        // the "no" clip that only says "yes"
  CHECK(CountKeywordHits(files, labels, 0.010, config, 0.40).false_alarms == 1);  // the spike is too short
  CHECK(CountKeywordHits(files, labels, 0.010, config, 0.61).false_alarms == 0);
  CHECK(CountKeywordHits(files, labels, 0.010, config, 0.95).misses == 2);

  // CountedDetCurve: ascending, repeated thresholds once, rates over the hours and the positives.
  const auto curve = CountedDetCurve(
      [&](double t) { return CountKeywordHits(files, labels, 0.010, config, t); }, 2, 0.5, {0.40, 0.30, 0.40});
  REQUIRE(curve.size() == 2);
  CHECK(curve[0].threshold == Approx(0.30));
  CHECK(curve[0].fa_per_hour == Approx(4.0));
  CHECK(curve[0].miss_rate == Approx(0.5));
  CHECK(curve[1].false_alarms == 1);
  files.positive_keywords.pop_back();
  CHECK_THROWS_AS(CountKeywordHits(files, labels, 0.010, config, 0.3), std::invalid_argument);
}

TEST_CASE("HitsPerFile decodes each file as its own stream", "[keyword][calibration]") {
  const std::vector<MatrixF> files = {Posteriors(100, 10, 50, 0.9), Posteriors(100, 0, 0, 0.9), MatrixF(0, 2)};
  CHECK(HitsPerFile(files, kCalibrationLabels, 0.010, Decoder(), "jarvis") == std::vector<int64_t>{1, 0, 0});
}

TEST_CASE("the model's decoder metadata survives save and load, bad metadata is refused",
          "[keyword][calibration][metadata]") {
  test::ScopedTempDir tmp("ossicle-kw-meta");
  const FeatureConfig features = FeatureConfig::KaldiFbank(8);
  const std::string path = test::WriteTestModel(tmp.path(), "m.safetensors", features, kCalibrationLabels);
  auto model = AcousticModel::Load(path);
  CHECK(ReadModelDecoderJson(path).empty());  // optional
  const std::string meta = R"({"keywords":"jarvis","threshold":0.83,"type":"decoder.keywords"})";
  const std::string with = (tmp.path() / "with.safetensors").string();
  SaveModelWithDecoderJson(*model, with, meta);
  CHECK(nlohmann::json::parse(ReadModelDecoderJson(with)) == nlohmann::json::parse(meta));
  // Still an ordinary model file: the same weights, labels and features.
  auto loaded = AcousticModel::Load(with);
  CHECK(loaded->Labels() == kCalibrationLabels);
  const auto a = model->Parameters(), b = loaded->Parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].name == b[i].name);
    CHECK(std::equal(a[i].values.begin(), a[i].values.end(), b[i].values.begin(), b[i].values.end()));
  }
  CHECK_FALSE(std::filesystem::exists(with + ".tmp"));
  CHECK_THROWS_WITH(SaveModelWithDecoderJson(*model, with, "{\"threshold\": 0.5}"), Contains("string \"type\""));
  CHECK_THROWS_AS(SaveModelWithDecoderJson(*model, with, "{not json"), ModelFormatError);
}

TEST_CASE("ApplyDecoderJson: only the matching decoder type, unknown keys named", "[keyword][calibration][metadata]") {
  std::string json = R"({"type":"decoder.keywords","threshold":0.83,"smoothing_ms":50})";
  KwsDecoderConfig c;
  CHECK(ApplyDecoderJson(json, "decoder.keywords", c));
  CHECK(c.threshold == Approx(0.83));
  CHECK(c.smoothing_ms == Approx(50));
  KwsDecoderConfig other;
  CHECK_FALSE(ApplyDecoderJson(json, "decoder.ctc_keywords", other));
  CHECK(other.threshold == Approx(0.5));
  CHECK_FALSE(ApplyDecoderJson("", "decoder.keywords", other));
  json = R"({"type":"decoder.keywords","treshold":0.83})";
  CHECK_THROWS_WITH(ApplyDecoderJson(json, "decoder.keywords", c),
                    Contains("model metadata 'decoder'") && Contains("unknown key 'treshold'"));
}

TEST_CASE("decoder metadata as a list: each decoder type takes its own entry", "[keyword][calibration][metadata]") {
  // The digits model's shape: a spotter's keyword list and threshold, and the words a transcript may hold.
  const std::string json = R"([{"type":"decoder.ctc_keywords","keywords":"one,two","threshold":0.3},)"
                           R"({"type":"decoder.ctc_beam","words":["one","two"],"beam_width":4}])";
  CtcKeywordSpotterConfig spotter;
  CHECK(ApplyDecoderJson(json, "decoder.ctc_keywords", spotter));
  CHECK(spotter.keywords == "one,two");
  CHECK(spotter.threshold == Approx(0.3));
  CtcBeamConfig beam;
  CHECK(ApplyDecoderJson(json, "decoder.ctc_beam", beam));
  CHECK(beam.words == std::vector<std::string>{"one", "two"});
  CHECK(beam.beam_width == 4);
  KwsDecoderConfig other;
  CHECK_FALSE(ApplyDecoderJson(json, "decoder.keywords", other));
  CHECK(DecoderEntry(json, "decoder.ctc_beam").at("beam_width") == 4);
  CHECK(DecoderEntry(json, "decoder.ctc_greedy").is_null());
  CHECK(DecoderEntries(json, "m.safetensors").size() == 2);

  // Refused, naming the file: a type twice, an empty list, an entry without a type, not JSON.
  CHECK_THROWS_WITH(DecoderEntries(R"([{"type":"decoder.ctc_beam"},{"type":"decoder.ctc_beam","beam_width":4}])",
                                   "m.safetensors"),
                    Contains("m.safetensors: metadata 'decoder' names \"decoder.ctc_beam\" twice (entries 1 and 2)"));
  CHECK_THROWS_WITH(DecoderEntries("[]", "m.safetensors"),
                    Contains("m.safetensors: metadata 'decoder' must be a JSON object") && Contains("got []"));
  CHECK_THROWS_WITH(DecoderEntries(R"([{"type":"decoder.ctc_beam"},{"threshold":0.5}])", "m.safetensors"),
                    Contains("or a list of such objects"));
  CHECK_THROWS_AS(DecoderEntries("[{", "m.safetensors"), ModelFormatError);
  CHECK(DecoderEntries("", "m.safetensors").empty());

  // Saved and read back as it is.
  test::ScopedTempDir tmp("ossicle-kw-meta-list");
  const std::string path =
      test::WriteTestModel(tmp.path(), "m.safetensors", FeatureConfig::KaldiFbank(8), kCalibrationLabels);
  const std::string with = (tmp.path() / "with.safetensors").string();
  SaveModelWithDecoderJson(*AcousticModel::Load(path), with, json);
  CHECK(nlohmann::json::parse(ReadModelDecoderJson(with)) == nlohmann::json::parse(json));
  CHECK_THROWS_WITH(SaveModelWithDecoderJson(*AcousticModel::Load(path), with, R"([{"type":"a"},{"type":"a"}])"),
                    Contains("with.safetensors: metadata 'decoder' names \"a\" twice"));
}

TEST_CASE("decoder.keywords takes the model's threshold unless the graph sets one", "[keyword][calibration][graph]") {
  test::ScopedTempDir tmp("ossicle-kw-stage");
  const FeatureConfig features = FeatureConfig::KaldiFbank(40);
  const std::string path = test::WriteTestModel(tmp.path(), "kws.safetensors", features, {"yes", "no", "_unknown_"});
  auto hits = [&](const std::string& decoder_json, const std::string& graph_threshold) {
    SaveModelWithDecoderJson(*AcousticModel::Load(path), (tmp.path() / "with-meta.safetensors").string(),
                             decoder_json);
    const std::string options = graph_threshold.empty() ? "{}" : "{threshold: " + graph_threshold + "}";
    const std::string yaml = test::WriteText(tmp.path() / "g.yaml", R"(stages:
  - {name: audio, type: source.file}
  - {name: fbank, type: features.fbank, input: audio}
  - {name: model, type: model.rnn, input: fbank, options: {path: with-meta.safetensors}}
  - {name: kws, type: decoder.keywords, input: model, options: )" + options + R"(}
)");
    int n = 0;
    Graph::Load(yaml)->RunFile(test::TestAudio("yes_en-us_16k.wav"), [&](const nlohmann::json& r) {
      n += r["type"] == "hit" ? 1 : 0;
    });
    return n;
  };
  const int low = hits(R"({"type":"decoder.keywords","threshold":0.05})", "");
  const int high = hits(R"({"type":"decoder.keywords","threshold":1.0})", "");
  CHECK(low > 0);   // a random model's posteriors (about 1/3) pass 0.05 ...
  CHECK(high == 0);  // ... and never reach 1.0
  CHECK(hits(R"({"type":"decoder.keywords","threshold":1.0})", "0.05") == low);  // the graph's value wins
  CHECK(hits(R"({"type":"decoder.ctc_greedy"})", "0.05") == low);                  // other decoder: ignored
}

}  // namespace
}  // namespace ossicle
