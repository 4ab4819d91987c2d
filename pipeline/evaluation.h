// Evaluating a model on a manifest of labelled clips (and, optionally, on negative audio without
// keywords): what `ossicle eval` computes before pipeline/report-writer.h writes it out.
//
//   ossicle::EvaluationConfig config;
//   config.model = "runs/fsdd-digits/model.safetensors";
//   config.manifest = "../shared/data/fsdd/dev.tsv";       // reference column auto-detected
//   config.negatives = {"../shared/data/background/manifest.tsv"};
//   ossicle::EvaluationResult r = ossicle::Evaluate(config);
//   r.accuracy, r.per_class, r.det, r.at_target->point.threshold, ...
//
// How a clip is scored depends on the model (docs/evaluation.md; the contract with the training side):
//   clip            attention head: the clip's class posteriors (clip_log_probs); prediction = argmax.
//   frame_classes   frame head, labels without "<blank>": per class, the largest posterior over frames after
//                   the KwsDecoder's smoothing (mean over the trailing smoothing_ms); for keywords the score of
//                   the KwsDecoder itself run at the floor threshold without suppression (its confidence is
//                   that maximum; hits shorter than min_duration_ms count as 0). Prediction: the best
//                   keyword if it reaches the threshold, else the best filler class (labels starting with
//                   '_' or '<'), else the fallback.
//   ctc_words       CTC with whole-word tokens without the word marker: per word, the CTC keyword score,
//                   i.e. for a one-token word the largest token posterior over frames. Prediction: the best keyword reaching the
//                   threshold, else the best filler token reaching it, else the fallback.
//   ctc_characters  CTC whose tokens spell text: single characters, or tokens starting with U+2581 (words or
//                   word pieces, as SentencePiece marks a word start; `word_tokens` experiments). Transcript
//                   mode (a transcript column): greedy or beam transcript -> WER/CER. Keyword mode (a label/keyword column): every keyword of the
//                   manifest scored by the CtcKeywordSpotter over the clip; prediction as for ctc_words.
//                   A model whose decoder metadata is decoder.ctc_keywords (a fixed keyword list with its
//                   threshold, e.g. models/pretrained/digits.safetensors) is a spotter of those keywords:
//                   without --columns the column whose values are most often its keywords is the reference
//                   (keyword mode), only its keywords are scored, and every other reference ("_silence_",
//                   "backward") counts as "(none)": staying silent is the right answer.
// The fallback prediction is "_silence_" when the manifest has that label, else "(none)" (always "(none)"
// for a decoder.ctc_keywords model).
// Label references that are not model labels (the "alexa" clips of a wake-word manifest, for a "jarvis"
// spotter) count as "_unknown_" when the model has that label (clip and frame_classes scoring), since
// rejecting them is right; EvaluationResult::foreign_references lists them and a note says so.
// The threshold: EvaluationConfig::threshold, else the model's metadata "decoder".threshold, else 0.5.
//
// Negatives (false alarms per hour): the streaming decoder (KwsDecoder for frame_classes, CtcKeywordSpotter
// for CTC) runs over every negative file at a floor threshold (kDetFloorThreshold); every hit is an event
// scored by the hit's score (`false_alarms`, the strongest listed in the report). A clip model has no
// streaming decoder, so each negative file counts as one event scored by its best keyword posterior.
// Positives are the manifest clips whose reference is a keyword.
// The DET curve and the calibrated thresholds:
// - frame_classes (det_counted): counted by the decoder itself at each threshold, as `ossicle spot` and
//   `keyword-train`'s calibration count (CountKeywordHits, pipeline/keyword-calibration.h): false alarms at t =
//   hits over the negative files with decoder threshold t; a positive is missed at t when its keyword has no
//   hit. Thresholds: ThresholdGrid() from the floor, just above the strongest events around each target's
//   allowance, and 0.001 steps below each chosen threshold. (Counting matters: a hit's span, and so the
//   decoder's minimum duration and suppression, depend on the threshold; an event's score alone does not
//   tell whether it is a hit at a higher threshold.)
// - CTC keyword spotters and clip models: from the events (a false alarm counts at t iff its score >= t, a
//   positive is detected iff its reference keyword's clip score >= t): exact for clip models, approximate for
//   CTC (a note says so).

// Files that cannot be read or are too short for one feature frame become error rows (ClipResult::error)
// and are left out of every metric; they are never dropped silently. Files read with a warning (damaged
// FLAC frames decoded as silence, truncated data) are scored as they decoded and listed
// (EvaluationResult::audio_warnings), or left out as error rows with EvaluationConfig::skip_damaged.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "pipeline/evaluation-metrics.h"

namespace ossicle {

enum class EvalScoring { kClip, kFrameClasses, kCtcWords, kCtcCharacters };
template <>
struct EnumNames<EvalScoring> {
  static constexpr std::array kValues{std::pair{EvalScoring::kClip, std::string_view{"clip"}},
                                      std::pair{EvalScoring::kFrameClasses, std::string_view{"frame_classes"}},
                                      std::pair{EvalScoring::kCtcWords, std::string_view{"ctc_words"}},
                                      std::pair{EvalScoring::kCtcCharacters, std::string_view{"ctc_characters"}}};
};

// What the reference column holds: a class / keyword label, or a transcript.
enum class ReferenceKind { kLabel, kTranscript };

inline constexpr double kDetFloorThreshold = 0.02;  // lowest threshold the DET curve is measured at
inline constexpr std::string_view kNoPrediction = "(none)";
// The filler label that references without a model label count as.
inline constexpr std::string_view kUnknownReference = "_unknown_";

struct EvaluationConfig {
  std::string model;      // ossicle model file
  std::string manifest;   // TSV, paths relative to it
  // Optional TSVs of audio without keywords (paths relative to each manifest), read as one set in order.
  std::vector<std::string> negatives;
  std::string path_column = "path";
  // At most one of these names the reference column; both empty: auto-detected (see ChooseReference).
  std::string label_column;
  std::string transcript_column;
  double target_fa_per_hour = 1.0;
  std::optional<double> threshold;  // overrides the model's decoder threshold, in (0, 1]
  int jobs = 1;                     // clips processed in parallel
  std::string run_dir;              // training run folder (metrics.jsonl); empty: the model's folder if it has one
  // Clips and negative files whose audio the reader flags (AudioFileReader::Warning(): damaged FLAC frames
  // decoded as silence, or data that ends before its header says) become error rows, left out of every
  // figure. false: they are scored as they decoded, and listed (ClipResult::warning).
  bool skip_damaged = false;
  // Called after each clip (from worker threads, serialised), e.g. for a progress line.
  std::function<void(int64_t done, int64_t total)> on_progress;

  // ConfigError naming the field: "eval.jobs = 0; expected >= 1".
  void Validate(std::string_view path = "eval") const;
};

struct ClipResult {
  std::string path;  // the manifest's path column as written
  int64_t line = 0;  // manifest line
  std::string reference;
  std::string prediction;        // a label, kNoPrediction, or a transcript
  double score = 0.0;            // the prediction's score (transcripts: the decoder's confidence)
  double reference_score = -1.0; // the reference keyword's score; < 0 when the reference is not a keyword
  double duration_s = 0.0;
  std::string error;  // non-empty: the clip failed (message names the file)
  std::string warning;  // non-empty: the audio was damaged or truncated (AudioFileReader::Warning())
  bool negatives = false;  // a file of --negatives (in negative_errors and audio_warnings)
};

// A false alarm found in the negative audio.
struct FalseAlarm {
  std::string path;
  std::string keyword;
  double start_s = 0.0;
  double end_s = 0.0;
  double score = 0.0;
};

struct EvaluationResult {
  EvaluationConfig config;
  std::vector<std::string> model_labels;
  std::string model_description;  // architecture in one line
  EvalScoring scoring = EvalScoring::kClip;
  ReferenceKind reference_kind = ReferenceKind::kLabel;
  std::string reference_column;
  std::string reference_column_reason;  // "given" or why auto-detection chose it
  double threshold = 0.5;
  std::string threshold_source;  // "--threshold", "model metadata" or "default"
  std::string decoder_json;      // the model's "decoder" metadata ("" when absent)
  // Transcript references: the decoder that wrote the transcripts ("decoder.ctc_beam" with the options of
  // the model's decoder.ctc_beam metadata when it has that entry, else "decoder.ctc_greedy").
  std::string transcript_decoder;

  std::vector<ClipResult> clips;  // manifest order, errors included
  int64_t num_errors = 0;
  double audio_seconds = 0.0;    // clips decoded (errors excluded)
  double wall_seconds = 0.0;     // scoring the manifest (model loading excluded)
  double cpu_seconds = 0.0;      // process CPU time over the same span

  // Label references.
  std::optional<ConfusionMatrix> confusion;
  std::vector<ClassMetrics> per_class;
  double accuracy = 0.0;  // labels: confusion accuracy; transcripts: exact-match rate after NormalizeText
  // Transcript references.
  std::optional<EditCounts> word_edits;
  std::optional<EditCounts> char_edits;

  // Negatives.
  bool has_negatives = false;
  int64_t negative_files = 0;
  double negative_hours = 0.0;
  std::vector<ClipResult> negative_errors;
  // Clips and negative files read with a warning (path, line, warning; `error` set when skip_damaged left
  // them out), manifest order, then the negatives'.
  std::vector<ClipResult> audio_warnings;
  std::vector<FalseAlarm> false_alarms;  // every event at the floor threshold, highest score first
  DetInput det_input;
  std::vector<DetPoint> det;
  // true: the DET was counted by the decoder at each threshold (frame-classifier keyword spotters); false:
  // built from the events found at the floor threshold (CTC keyword spotters, attention-head models).
  bool det_counted = false;
  std::optional<OperatingPoint> at_1_fa_per_hour;
  std::optional<OperatingPoint> at_target;

  // Label references that are not model labels (for a decoder.ctc_keywords model: not its keywords), with
  // their clip counts, and what they were scored as: kUnknownReference (the model has that label),
  // kNoPrediction (a keyword list: no hit is right), or "" (kept: unavoidable errors).
  std::map<std::string, int64_t> foreign_references;
  std::string foreign_references_as;

  std::vector<std::string> notes;  // what was skipped and why
  std::string run_dir;             // where learning curves come from ("" when none)
};

// Reads the model and the manifests, scores every clip (config.jobs threads) and computes the metrics.
// Throws ConfigError (bad options, unknown column, no usable reference column), ModelFormatError (model)
// and IoError (manifest); a clip's own failure becomes an error row.
EvaluationResult Evaluate(const EvaluationConfig& config);

// Model labels seen as an evaluation: which scoring applies (see the top of this file).
EvalScoring ScoringFor(bool attention_head, const std::vector<std::string>& labels);
// A filler label: starts with '_' or '<' (_unknown_, _silence_, <blank>, <filler>).
bool IsFillerLabel(std::string_view label);

}  // namespace ossicle
