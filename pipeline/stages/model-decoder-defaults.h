// A model's own decoder settings as the defaults of a decoder stage.
//
// A model file may carry "decoder" metadata (docs/models.md), e.g. written by `ossicle keyword-train`:
// {"type": "decoder.keywords", "threshold": 0.83, "keywords": "jarvis"}. A decoder stage whose input is a
// model.rnn stage reads it from that stage's model file; when its "type" is the decoder stage's own type, the
// stage starts from these values and then reads the graph's options over them, so an option the graph (or
// --set) gives wins, and one it leaves out takes the model's calibrated value rather than the built-in
// default. Metadata of another decoder type is ignored (the graph chose another decoder on purpose).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "features/config-json.h"
#include "features/errors.h"
#include "models/acoustic-model.h"
#include "pipeline/stage-registry.h"

namespace ossicle {

// The "decoder" metadata of a model file ("" when it has none). ModelFormatError naming the file when it is
// not a JSON object with a string "type"; IoError / ModelFormatError when the file cannot be read.
std::string ReadModelDecoderJson(const std::string& model_path);

// Saves `model` to `path` with `decoder_json` (a JSON object with a string "type"; "" = none) as its "decoder"
// metadata. ModelFormatError for bad JSON, IoError when the file cannot be written.
void SaveModelWithDecoderJson(const AcousticModel& model, const std::string& path, const std::string& decoder_json);

// The decoder metadata of the model of the model.rnn stage `model_stage` of the graph being built ("" when
// that stage is not a model.rnn stage or its model has none). Errors carry the model stage's path option.
std::string ModelStageDecoderJson(const StageBuildContext& ctx, const std::string& model_stage);

// Reads `decoder_json` into `options` when its "type" is `stage_type`; returns whether it did. ConfigError
// naming the metadata and the key when a value does not fit the stage's options.
template <ConfigStruct C>
bool ApplyDecoderJson(const std::string& decoder_json, std::string_view stage_type, C& options) {
  if (decoder_json.empty()) return false;
  nlohmann::json j = nlohmann::json::parse(decoder_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("type") || !j.at("type").is_string()) return false;
  if (j.at("type").get<std::string>() != stage_type) return false;
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
