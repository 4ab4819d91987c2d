#include "pipeline/stage-registry.h"

#include <filesystem>

#include "features/errors.h"
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

StreamKind KindOf(const Packet& packet) {
  switch (packet.index()) {
    case 0: return StreamKind::kAudio;
    case 1: return StreamKind::kFeatures;
    case 2: return StreamKind::kPosteriors;
    case 3: return StreamKind::kSegments;
    default: return StreamKind::kRecords;
  }
}

bool StageInstance::Produce(Emitter&) { return false; }

std::vector<std::string> CommandLinePaths(const std::string& value) {
  std::vector<std::string> items;
  YAML::Node node;
  try {
    node = YAML::Load(value);
  } catch (const YAML::Exception&) {
    node = YAML::Node(value);
  }
  if (node.IsSequence()) {
    for (const auto& item : node) items.push_back(item.IsScalar() ? item.Scalar() : std::string());
  } else if (node.IsScalar()) {
    items.push_back(node.Scalar());
  }
  for (auto& item : items) {
    if (!item.empty() && std::filesystem::path(item).is_relative()) {
      item = std::filesystem::absolute(item).lexically_normal().string();
    }
  }
  return items;
}

// ---- StageBuildContext

std::string StageBuildContext::KeyPath(std::string_view key) const { return JoinKey(spec.name, key); }

const StreamInfo* StageBuildContext::InputOn(size_t port) const {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (input_ports[i] == port) return inputs[i];
  }
  return nullptr;
}

YAML::Node StageBuildContext::InputNodeOn(size_t port) const {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (input_ports[i] == port) return spec.input_nodes[i];
  }
  return spec.input_node;
}

YAML::Node StageBuildContext::OptionNode(std::string_view key) const {
  YAML::Node best = spec.options.Mark().is_null() ? spec.node : spec.options;
  YAML::Node cur = spec.options;
  size_t begin = 0;
  while (!key.empty() && begin <= key.size() && cur.IsMap()) {
    const size_t dot = key.find('.', begin);
    const std::string part(key.substr(begin, dot == std::string_view::npos ? std::string_view::npos : dot - begin));
    const YAML::Node next = cur[part];
    if (!next.IsDefined()) break;
    if (!next.Mark().is_null()) best = next;
    if (dot == std::string_view::npos) break;
    cur.reset(next);
    begin = dot + 1;
  }
  return best;
}

void StageBuildContext::FailOption(std::string_view key, std::string_view what) const {
  ThrowYamlError(Source(), OptionNode(key), KeyPath(key), what);
}

void StageBuildContext::FailInput(size_t port, std::string_view what) const {
  ThrowYamlError(Source(), InputNodeOn(port), KeyPath("input"), what);
}

namespace {

// The same exception type with a new message.
[[noreturn]] void Rethrow(const Error& e, const std::string& message) {
  if (dynamic_cast<const ConfigError*>(&e)) throw ConfigError(message);
  if (dynamic_cast<const AudioError*>(&e)) throw AudioError(message);
  if (dynamic_cast<const ModelFormatError*>(&e)) throw ModelFormatError(message);
  if (dynamic_cast<const DeviceError*>(&e)) throw DeviceError(message);
  if (dynamic_cast<const IoError*>(&e)) throw IoError(message);
  throw Error(message);
}

}  // namespace

void StageBuildContext::WithPosition(std::string_view key, const std::function<void()>& f) const {
  try {
    f();
  } catch (const Error& e) {
    const std::string what = e.what();
    std::string k(key);
    // Messages of Validate() and of the decoders start with the key path ("model.chunk_frames = 0; ...",
    // "kws: keyword 'x' is not a label"): point at that field and keep the message as it is.
    if (what.rfind(spec.name + ".", 0) == 0 || what.rfind(spec.name + ":", 0) == 0) {
      const size_t eq = what.find(" = ");
      if (what[spec.name.size()] == '.' && eq != std::string::npos) {
        k = what.substr(spec.name.size() + 1, eq - spec.name.size() - 1);
      }
      Rethrow(e, FormatMark(Source(), OptionNode(k).Mark()) + ": " + what);
    }
    Rethrow(e, FormatMark(Source(), OptionNode(k).Mark()) + ": " + (k.empty() ? "" : KeyPath(k) + ": ") + what);
  }
}

// ---- StageRegistry

void StageRegistry::Add(StageType type) {
  if (Find(type.name) != nullptr) throw ConfigError("stage type '" + type.name + "' is registered twice");
  types_.push_back(std::move(type));
}

const StageType* StageRegistry::Find(std::string_view name) const {
  for (const auto& t : types_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<std::string_view> StageRegistry::Names() const {
  std::vector<std::string_view> names;
  for (const auto& t : types_) names.push_back(t.name);
  return names;
}

const StageRegistry& StageRegistry::Builtin() {
  static const StageRegistry registry = [] {
    StageRegistry r;
    RegisterBuiltinStages(r);
    return r;
  }();
  return registry;
}

}  // namespace ossicle
