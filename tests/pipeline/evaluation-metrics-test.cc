// Metrics of `ossicle eval` against values computed by hand (each case says how).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "pipeline/evaluation-metrics.h"
#include "pipeline/evaluation.h"

using Catch::Detail::Approx;
using ossicle::DetInput;

TEST_CASE("confusion matrix, accuracy and per-class precision/recall", "[eval]") {
  // refs:  a a a b b c     preds: a b a b a (none)
  const std::vector<std::string> refs{"a", "a", "a", "b", "b", "c"};
  const std::vector<std::string> preds{"a", "b", "a", "b", "a", "(none)"};
  const ossicle::ConfusionMatrix m = ossicle::BuildConfusion(refs, preds, {"a", "b", "c"});
  REQUIRE(m.labels == std::vector<std::string>{"a", "b", "c", "(none)"});
  CHECK(m.counts[0] == std::vector<int64_t>{2, 1, 0, 0});
  CHECK(m.counts[1] == std::vector<int64_t>{1, 1, 0, 0});
  CHECK(m.counts[2] == std::vector<int64_t>{0, 0, 0, 1});
  CHECK(m.counts[3] == std::vector<int64_t>{0, 0, 0, 0});
  CHECK(m.Total() == 6);
  CHECK(m.Correct() == 3);
  CHECK(m.Accuracy() == Approx(0.5));

  const auto pc = ossicle::PerClassMetrics(m);
  REQUIRE(pc.size() == 4);
  // a: tp 2, predicted 3 (2 a + 1 b), support 3 -> P 2/3, R 2/3, F1 2/3.
  CHECK(pc[0].support == 3);
  CHECK(pc[0].predicted == 3);
  CHECK(*pc[0].precision == Approx(2.0 / 3));
  CHECK(*pc[0].recall == Approx(2.0 / 3));
  CHECK(*pc[0].f1 == Approx(2.0 / 3));
  // b: tp 1, predicted 2, support 2 -> P 1/2, R 1/2.
  CHECK(*pc[1].precision == Approx(0.5));
  CHECK(*pc[1].recall == Approx(0.5));
  // c: never predicted -> precision undefined; recall 0/1 = 0; F1 undefined.
  CHECK_FALSE(pc[2].precision.has_value());
  CHECK(*pc[2].recall == Approx(0.0));
  CHECK_FALSE(pc[2].f1.has_value());
  // (none): no reference -> recall undefined; predicted once, never right -> precision 0.
  CHECK(*pc[3].precision == Approx(0.0));
  CHECK_FALSE(pc[3].recall.has_value());

  CHECK_THROWS_AS(ossicle::BuildConfusion({"a"}, {}), std::invalid_argument);
}

TEST_CASE("word and character error rates by edit distance", "[eval]") {
  // "go left now" -> "go right": 1 substitution (left/right) + 1 deletion (now); 3 reference words.
  ossicle::EditCounts w = ossicle::WordEdits("go left now", "go right");
  CHECK(w.substitutions == 1);
  CHECK(w.deletions == 1);
  CHECK(w.insertions == 0);
  CHECK(w.reference_length == 3);
  CHECK(ossicle::ErrorRate(w) == Approx(2.0 / 3));

  // Swapped words: two substitutions, not a deletion and an insertion plus a match.
  w = ossicle::WordEdits("a b", "b a");
  CHECK(w.substitutions == 2);
  CHECK(w.Errors() == 2);

  // Case and spacing are normalised before scoring.
  CHECK(ossicle::WordEdits("  Yes   NO ", "yes no").Errors() == 0);
  CHECK(ossicle::NormalizeText("  Go\tLEFT \n") == "go left");

  // Empty reference: every hypothesis word is an insertion, the denominator is taken as 1.
  w = ossicle::WordEdits("", "yes no");
  CHECK(w.insertions == 2);
  CHECK(w.reference_length == 0);
  CHECK(ossicle::ErrorRate(w) == Approx(2.0));
  CHECK(ossicle::ErrorRate(ossicle::WordEdits("", "")) == 0.0);
  // Empty hypothesis: every reference word deleted.
  w = ossicle::WordEdits("three seven", "");
  CHECK(w.deletions == 2);
  CHECK(ossicle::ErrorRate(w) == Approx(1.0));

  // Characters, the space included: "kitten" -> "sitting" is 2 substitutions + 1 insertion over 6.
  ossicle::EditCounts c = ossicle::CharEdits("kitten", "sitting");
  CHECK(c.substitutions == 2);
  CHECK(c.insertions == 1);
  CHECK(c.reference_length == 6);
  // "go left" (7 characters) -> "goleft": the missing space is one deletion.
  c = ossicle::CharEdits("go left", "goleft");
  CHECK(c.deletions == 1);
  CHECK(c.Errors() == 1);
  CHECK(c.reference_length == 7);
  // UTF-8: "café" is 4 characters; "cafe" differs by one substitution.
  c = ossicle::CharEdits("caf\xc3\xa9", "cafe");
  CHECK(c.reference_length == 4);
  CHECK(c.substitutions == 1);

  // Corpus rate: errors and lengths summed before dividing: (2 + 1) / (3 + 2).
  ossicle::EditCounts total = ossicle::WordEdits("go left now", "go right");
  total += ossicle::WordEdits("yes no", "yes");
  CHECK(ossicle::ErrorRate(total) == Approx(3.0 / 5));
}

TEST_CASE("DET points, FRR at a false-alarm rate and the threshold that meets it", "[eval]") {
  // 4 positives, 3 false-alarm events in 2 hours of negatives.
  DetInput d;
  d.positive_scores = {0.9, 0.8, 0.6, 0.3};
  d.negative_scores = {0.7, 0.5, 0.2};
  d.negative_hours = 2.0;

  const std::vector<ossicle::DetPoint> curve = ossicle::DetCurve(d);
  // Distinct scores 0.2 0.3 0.5 0.6 0.7 0.8 0.9, plus one point above 0.9.
  REQUIRE(curve.size() == 8);
  // At 0.2: nothing missed, all 3 events -> 1.5 FA/h.
  CHECK(curve[0].threshold == 0.2);
  CHECK(curve[0].misses == 0);
  CHECK(curve[0].false_alarms == 3);
  CHECK(curve[0].false_alarms_per_hour == Approx(1.5));
  // At 0.6: 0.3 missed (1/4), events 0.7 -> 1 (0.5 FA/h).
  CHECK(curve[3].threshold == 0.6);
  CHECK(curve[3].false_reject_rate == Approx(0.25));
  CHECK(curve[3].false_alarms_per_hour == Approx(0.5));
  // Above 0.9: everything missed, no false alarm.
  CHECK(curve[7].threshold > 0.9);
  CHECK(curve[7].false_reject_rate == Approx(1.0));
  CHECK(curve[7].false_alarms == 0);
  for (size_t i = 1; i < curve.size(); ++i) {
    CHECK(curve[i].threshold > curve[i - 1].threshold);
    CHECK(curve[i].false_reject_rate >= curve[i - 1].false_reject_rate);
    CHECK(curve[i].false_alarms <= curve[i - 1].false_alarms);
  }

  // 1 FA/h over 2 h allows 2 events: the threshold goes just above the 3rd strongest event (0.2); no miss.
  ossicle::OperatingPoint op = ossicle::ThresholdForFalseAlarmRate(d, 1.0, 0.02);
  CHECK(op.point.threshold > 0.2);
  CHECK(op.point.threshold == Approx(0.2));
  CHECK(op.point.false_alarms == 2);
  CHECK(op.point.false_alarms_per_hour == Approx(1.0));
  CHECK(op.point.false_reject_rate == Approx(0.0));
  CHECK(op.reachable);
  // 0.5 FA/h allows 1: just above 0.5, so 0.3 is missed (FRR 1/4).
  op = ossicle::ThresholdForFalseAlarmRate(d, 0.5, 0.02);
  CHECK(op.point.threshold == Approx(0.5));
  CHECK(op.point.threshold > 0.5);
  CHECK(op.point.false_reject_rate == Approx(0.25));
  CHECK(op.point.false_alarms == 1);
  // 0 FA/h: just above 0.7, so 0.6 and 0.3 are missed (FRR 1/2).
  op = ossicle::ThresholdForFalseAlarmRate(d, 0.0, 0.02);
  CHECK(op.point.false_reject_rate == Approx(0.5));
  CHECK(op.point.false_alarms == 0);
  // 2 FA/h allows 4 > 3 events: the floor itself.
  op = ossicle::ThresholdForFalseAlarmRate(d, 2.0, 0.02);
  CHECK(op.point.threshold == 0.02);
  CHECK(op.point.false_alarms == 3);

  // A negative event at score 1.0 with no false alarm allowed: no threshold in (0, 1] meets it.
  DetInput sure = d;
  sure.negative_scores = {1.0};
  op = ossicle::ThresholdForFalseAlarmRate(sure, 0.0, 0.02);
  CHECK_FALSE(op.reachable);
  CHECK(op.point.false_reject_rate == Approx(1.0));

  // Ties: two events at 0.5 and one allowed -> the threshold must pass both (FRR counts 0.3 only).
  DetInput ties;
  ties.positive_scores = {0.5, 0.3, 0.9};
  ties.negative_scores = {0.5, 0.5};
  ties.negative_hours = 1.0;
  op = ossicle::ThresholdForFalseAlarmRate(ties, 1.0, 0.02);
  CHECK(op.point.false_alarms == 0);
  CHECK(op.point.misses == 2);  // 0.5 and 0.3: a positive equal to an event's score cannot be kept

  CHECK_THROWS_AS(ossicle::ThresholdForFalseAlarmRate(DetInput{}, 1.0, 0.02), std::invalid_argument);
  CHECK(ossicle::DetCurve(DetInput{}).empty());
}

TEST_CASE("scoring kinds follow the model's labels and head", "[eval]") {
  using ossicle::EvalScoring;
  CHECK(ossicle::ScoringFor(true, {"yes", "no"}) == EvalScoring::kClip);
  CHECK(ossicle::ScoringFor(false, {"_silence_", "yes", "no"}) == EvalScoring::kFrameClasses);
  CHECK(ossicle::ScoringFor(false, {"<blank>", "yes", "no", "_unknown_"}) == EvalScoring::kCtcWords);
  CHECK(ossicle::ScoringFor(false, {"<blank>", "a", "b", " ", "\xc3\xa9"}) == EvalScoring::kCtcCharacters);
  CHECK(ossicle::ScoringFor(false, {"<blank>", "\xE2\x96\x81yes", "\xE2\x96\x81no"}) == EvalScoring::kCtcCharacters);
  CHECK(ossicle::IsFillerLabel("_unknown_"));
  CHECK(ossicle::IsFillerLabel("<filler>"));
  CHECK_FALSE(ossicle::IsFillerLabel("yes"));
}

TEST_CASE("evaluation options name the field that is wrong", "[eval]") {
  ossicle::EvaluationConfig c;
  c.model = "m.safetensors";
  c.manifest = "dev.tsv";
  CHECK_NOTHROW(c.Validate());
  auto message = [](const ossicle::EvaluationConfig& config) {
    try {
      config.Validate();
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  ossicle::EvaluationConfig bad = c;
  bad.negatives = {"neg.tsv", ""};
  CHECK(message(bad) == "eval.negatives[1] = \"\"; expected a manifest (TSV) file");
  bad.negatives = {"a.tsv", "neg.tsv", "neg.tsv"};
  CHECK_THAT(message(bad), Catch::StartsWith("eval.negatives[2] = 'neg.tsv' repeats eval.negatives[1]"));
  bad = c;
  bad.jobs = 0;
  CHECK(message(bad) == "eval.jobs = 0; expected >= 1");
  bad = c;
  bad.threshold = 1.5;
  CHECK_THAT(message(bad), Catch::StartsWith("eval.threshold = 1.5"));
  bad = c;
  bad.label_column = "label";
  bad.transcript_column = "transcript";
  CHECK_THAT(message(bad), Catch::Contains("expected at most one reference column"));
  bad = c;
  bad.manifest.clear();
  CHECK_THAT(message(bad), Catch::StartsWith("eval.manifest"));
}
