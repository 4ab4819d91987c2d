// A model's own decoder settings as the defaults of a decoder stage.
//
// A model file may carry "decoder" metadata (docs/models.md), e.g. written by `ossicle keyword-train`:
// {"type": "decoder.keywords", "threshold": 0.83, "keywords": "jarvis"}. A decoder stage whose input is a
// model.rnn stage reads it from that stage's model file; when its "type" is the decoder stage's own type, the
// stage starts from these values and then reads the graph's options over them, so an option the graph (or
// --set) gives wins, and one it leaves out takes the model's calibrated value rather than the built-in
// default. Metadata of another decoder type is ignored (the graph chose another decoder on purpose).
// The metadata may also be a list of such objects of distinct types, the defaults of each decoder the model
// is used with: models/pretrained/digits.safetensors carries decoder.ctc_keywords (the ten words to spot, at
// 0.3) and decoder.ctc_beam (the ten words as the only words a transcript may hold), so `ossicle spot` spots
// digits and `ossicle transcribe` writes digit strings with nothing but --model.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "features/config-json.h"
#include "features/errors.h"
#include "models/acoustic-model.h"
#include "pipeline/stage-registry.h"

namespace ossicle {

// The entries of decoder metadata `decoder_json` ("" = none): the object itself, or the objects of the list.
// ModelFormatError naming `where` when it is not valid JSON, not an object with a string "type" nor a
// non-empty list of such objects, or a list names a type twice.
std::vector<nlohmann::json> DecoderEntries(const std::string& decoder_json, const std::string& where);

// The entry of type `type` in `decoder_json` (an object or a list as above), or a null json when there is
// none or the text is not decoder metadata.
nlohmann::json DecoderEntry(const std::string& decoder_json, std::string_view type);

// The "decoder" metadata of a model file ("" when it has none). ModelFormatError naming the file when it is
// not decoder metadata (DecoderEntries); IoError / ModelFormatError when the file cannot be read.
std::string ReadModelDecoderJson(const std::string& model_path);

// Saves `model` to `path` with `decoder_json` (an object with a string "type", or a list of such objects;
// "" = none) as its "decoder" metadata. ModelFormatError for bad JSON, IoError when the file cannot be written.
void SaveModelWithDecoderJson(const AcousticModel& model, const std::string& path, const std::string& decoder_json);

// The decoder metadata of the model of the model.rnn stage `model_stage` of the graph being built ("" when
// that stage is not a model.rnn stage or its model has none). Errors carry the model stage's path option.
std::string ModelStageDecoderJson(const StageBuildContext& ctx, const std::string& model_stage);

// Reads the entry of `decoder_json` whose "type" is `stage_type` into `options`; returns whether there was
// one. ConfigError naming the metadata and the key when a value does not fit the stage's options.
template <ConfigStruct C>
bool ApplyDecoderJson(const std::string& decoder_json, std::string_view stage_type, C& options) {
  nlohmann::json j = DecoderEntry(decoder_json, stage_type);
  if (!j.is_object()) return false;
  j.erase("type");
  ConfigFromJson(j, options, "model metadata 'decoder' (" + std::string(stage_type) + ")");
  return true;
}

// The defaults of decoder stage `ctx` (of type `stage_type`) from the model feeding its first input.
template <ConfigStruct C>
bool ApplyModelDecoderDefaults(const StageBuildContext& ctx, std::string_view stage_type, C& options) {
  if (ctx.spec.inputs.empty()) return false;
  const std::string json = ModelStageDecoderJson(ctx, ctx.spec.inputs[0]);
  bool applied = false;
  ctx.WithPosition("", [&] { applied = ApplyDecoderJson(json, stage_type, options); });
  return applied;
}

}  // namespace ossicle
