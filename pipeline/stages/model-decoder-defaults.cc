#include "pipeline/stages/model-decoder-defaults.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "models/safetensors.h"

namespace ossicle {

namespace {

bool IsEntry(const nlohmann::json& j) { return j.is_object() && j.contains("type") && j.at("type").is_string(); }

}  // namespace

std::vector<nlohmann::json> DecoderEntries(const std::string& decoder_json, const std::string& where) {
  if (decoder_json.empty()) return {};
  nlohmann::json j = nlohmann::json::parse(decoder_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ModelFormatError(where + ": metadata 'decoder' is not valid JSON: " + decoder_json);
  if (IsEntry(j)) return {j};
  const bool list = j.is_array() && !j.empty() && std::all_of(j.begin(), j.end(), IsEntry);
  if (!list) {
    throw ModelFormatError(where + ": metadata 'decoder' must be a JSON object with a string \"type\" (e.g. "
                           "{\"type\": \"decoder.keywords\", \"threshold\": 0.8}) or a list of such objects; got " +
                           j.dump());
  }
  std::vector<nlohmann::json> entries(j.begin(), j.end());
  for (size_t i = 0; i < entries.size(); ++i) {
    for (size_t k = 0; k < i; ++k) {
      if (entries[k].at("type") == entries[i].at("type")) {
        throw ModelFormatError(where + ": metadata 'decoder' names " + entries[i].at("type").dump() +
                               " twice (entries " + std::to_string(k + 1) + " and " + std::to_string(i + 1) +
                               "); one entry per decoder type");
      }
    }
  }
  return entries;
}

nlohmann::json DecoderEntry(const std::string& decoder_json, std::string_view type) {
  if (decoder_json.empty()) return nullptr;
  const nlohmann::json j = nlohmann::json::parse(decoder_json, nullptr, /*allow_exceptions=*/false);
  if (IsEntry(j)) return j.at("type").get<std::string>() == type ? j : nlohmann::json();
  if (!j.is_array()) return nullptr;
  for (const nlohmann::json& e : j) {
    if (IsEntry(e) && e.at("type").get<std::string>() == type) return e;
  }
  return nullptr;
}

std::string ReadModelDecoderJson(const std::string& model_path) {
  const SafetensorsFile file = SafetensorsFile::Open(model_path);
  const auto it = file.Metadata().find("decoder");
  if (it == file.Metadata().end()) return "";
  DecoderEntries(it->second, model_path);
  return it->second;
}

void SaveModelWithDecoderJson(const AcousticModel& model, const std::string& path, const std::string& decoder_json) {
  DecoderEntries(decoder_json, path);
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
