#include "pipeline/stages/model-decoder-defaults.h"

#include <cstdio>
#include <filesystem>

#include "models/safetensors.h"

namespace ossicle {

namespace {

void CheckDecoderJson(const std::string& json, const std::string& where) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ModelFormatError(where + ": metadata 'decoder' is not valid JSON: " + json);
  if (!j.is_object() || !j.contains("type") || !j.at("type").is_string()) {
    throw ModelFormatError(where + ": metadata 'decoder' must be a JSON object with a string \"type\" (e.g. "
                           "{\"type\": \"decoder.keywords\", \"threshold\": 0.8}); got " + j.dump());
  }
}

}  // namespace

std::string ReadModelDecoderJson(const std::string& model_path) {
  const SafetensorsFile file = SafetensorsFile::Open(model_path);
  const auto it = file.Metadata().find("decoder");
  if (it == file.Metadata().end()) return "";
  CheckDecoderJson(it->second, model_path);
  return it->second;
}

void SaveModelWithDecoderJson(const AcousticModel& model, const std::string& path, const std::string& decoder_json) {
  if (!decoder_json.empty()) CheckDecoderJson(decoder_json, path);
  // The model's own writer, then a copy of every tensor and metadata entry with "decoder" added.
  const std::string plain = path + ".plain.tmp";
  model.Save(plain);
  {
    const SafetensorsFile file = SafetensorsFile::Open(plain);
    SafetensorsWriter w(path + ".tmp");
    for (const auto& [key, value] : file.Metadata()) w.SetMetadata(key, value);
    if (!decoder_json.empty()) w.SetMetadata("decoder", decoder_json);
    for (const std::string& name : file.TensorNames()) {
      const std::vector<float> values = file.ReadFloat(name);
      w.AddF32(name, file.Info(name).shape, values);
    }
    w.Close();
  }
  std::error_code ec;
  std::filesystem::remove(plain, ec);
  std::filesystem::rename(path + ".tmp", path, ec);
  if (ec) throw IoError(path + ": cannot write the model: " + ec.message());
}

}  // namespace ossicle
