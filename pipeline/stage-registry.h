// Stage types by name: what each one accepts, its options (for validation and config-docs) and how to build
// it.
//
// Every type reads its options with one options struct (a Fields list, features/config-fields.h), so
// unknown keys are refused with the nearest valid name and `ossicle config-docs` prints every option with
// unit, default and meaning. Built-in types (pipeline/stages/*.cc, one file per kind): source.file,
// source.microphone, features.fbank, features.mfcc, vad.energy, model.rnn, decoder.keywords,
// decoder.ctc_greedy, decoder.ctc_beam, decoder.ctc_keywords, sink.jsonl, sink.csv, sink.text, sink.wav,
// sink.npy.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/config-yaml.h"
#include "pipeline/graph-config.h"
#include "pipeline/stage.h"

namespace ossicle {

// An input slot of a stage type: the kind it takes and how many streams of that kind.
struct InputPort {
  StreamKind kind = StreamKind::kAudio;
  int min_count = 1;  // 0: optional
  int max_count = 1;  // -1: any number
  std::string_view role;  // for messages and docs: "features", "speech segments (optional)"
};

// What a stage type's build function gets.
struct StageBuildContext {
  const GraphConfig& graph;
  const StageSpec& spec;
  // The output of every input stage, in the spec's order, and the port each one was matched to.
  std::vector<const StreamInfo*> inputs;
  std::vector<size_t> input_ports;

  const YamlSource& Source() const { return graph.source; }
  // The key path of option `key` ("model.path"), of the stage itself when empty.
  std::string KeyPath(std::string_view key = {}) const;
  // The first input matched to `port`, or null.
  const StreamInfo* InputOn(size_t port) const;
  // The `input` entry that feeds `port` (for messages), or the stage node.
  YAML::Node InputNodeOn(size_t port) const;
  // The options node `key` (a dotted path) when the file spells it, else the options mapping, else the stage
  // node: where a message about that option points.
  YAML::Node OptionNode(std::string_view key) const;

  // ConfigError "file:line:col: <key path>: what" pointing at OptionNode(key).
  [[noreturn]] void FailOption(std::string_view key, std::string_view what) const;
  // ConfigError pointing at the input entry of `port`.
  [[noreturn]] void FailInput(size_t port, std::string_view what) const;

  // Reads the stage's options into `options` (strict: unknown keys, types), applies the path rule of
  // --set overrides, then calls options.Validate(key path) when it exists, turning its ConfigError into one
  // that carries the options' position.
  template <ConfigStruct C>
  void ReadOptions(C& options) const;

  // Runs `f` and rethrows any ossicle Error as the same type with the position of option `key` in front:
  // "file:line:col: <stage>.<key>: <message>" (for loading files named by options: models, statistics).
  // A message that already starts with the stage's key path ("model.chunk_frames = 0; expected > 0", as
  // Validate(path) writes them) keeps it, and points at the field it names.
  void WithPosition(std::string_view key, const std::function<void()>& f) const;
};

struct StageType {
  std::string name;     // "features.fbank"
  std::string summary;  // one sentence for config-docs
  std::vector<InputPort> inputs;  // empty: a source
  // Default options documented by config-docs (every leaf field with type, unit, default, meaning).
  std::function<std::vector<ConfigDocRow>()> docs;
  std::function<std::unique_ptr<const Stage>(const StageBuildContext&)> build;
  // Sinks end the graph: nothing takes their output, and Graph::RunFile (batch commands, which handle
  // records themselves) leaves them out.
  bool is_sink = false;
};

class StageRegistry {
 public:
  // The registry with every built-in stage type.
  static const StageRegistry& Builtin();

  void Add(StageType type);  // ConfigError when the name is taken
  const StageType* Find(std::string_view name) const;
  const std::vector<StageType>& Types() const { return types_; }  // in registration order
  std::vector<std::string_view> Names() const;

 private:
  std::vector<StageType> types_;
};

// Documentation rows of an options struct's defaults (CollectConfigDocs, without a prefix).
template <ConfigStruct C>
std::vector<ConfigDocRow> OptionDocs(const C& defaults = C{}) {
  std::vector<ConfigDocRow> rows;
  CollectConfigDocs(defaults, "", rows);
  return rows;
}

// ---- implementation of the template

namespace detail {
template <class C>
concept HasValidate = requires(const C& c) { c.Validate(std::string_view{}); };
}  // namespace detail

// Paths given on the command line are relative to the working directory: `value` (the --set text) made
// absolute, or for a list, each of its items.
std::vector<std::string> CommandLinePaths(const std::string& value);

// Sets the path field (unit "path": a string or a list of strings) at dotted `key` to the command-line
// paths in `value`; true when such a field exists.
template <ConfigStruct C>
bool SetPathField(C& config, std::string_view key, const std::string& value) {
  bool done = false;
  const size_t dot = key.find('.');
  const std::string_view head = key.substr(0, dot);
  C::Fields(config, [&](FieldInfo info, auto& field) {
    using T = std::remove_cvref_t<decltype(field)>;
    if (done || info.name != head) return;
    if constexpr (ConfigStruct<T>) {
      if (dot != std::string_view::npos) done = SetPathField(field, key.substr(dot + 1), value);
    } else if constexpr (std::is_same_v<T, std::string> || StringList<T>) {
      if (dot == std::string_view::npos && info.unit == "path") {
        const std::vector<std::string> paths = CommandLinePaths(value);
        if constexpr (StringList<T>) {
          field = paths;
        } else {
          field = paths.empty() ? std::string() : paths.front();
        }
        done = true;
      }
    }
  });
  return done;
}

template <ConfigStruct C>
void StageBuildContext::ReadOptions(C& options) const {
  ReadConfig(spec.options, options, Source(), spec.name);
  for (const auto& [key, value] : spec.overrides) SetPathField(options, key, value);
  if constexpr (detail::HasValidate<C>) {
    WithPosition("", [&] { options.Validate(spec.name); });
  }
}

}  // namespace ossicle
