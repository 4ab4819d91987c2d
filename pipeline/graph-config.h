// Processing graphs in YAML: parsing and structural validation.
//
//   # configs/graphs/batch-keywords.yaml
//   stages:
//     - name: audio
//       type: source.file
//       options: {paths: [speech.wav]}
//     - name: fbank
//       type: features.fbank
//       input: audio
//       options: {config: ../features/kaldi-fbank-40.yaml}
//     - name: model
//       type: model.rnn
//       input: fbank
//       options: {path: ../../models/commands.safetensors}
//     - name: keywords
//       type: decoder.keywords
//       input: model
//     - name: out
//       type: sink.jsonl
//       input: [keywords]
//
// A stage has `name` (letters, digits, '_' and '-'; unique), `type` (a registered stage type,
// pipeline/stage-registry.h), `input` (one stage name or a list; none for sources) and `options` (a mapping
// read by the stage type's options struct; absent keys keep their defaults). The top level may also hold a
// `description` string.
//
// Overrides (--set) name a stage and an option key path: "model.path=cmds.safetensors",
// "fbank.mel.num_mel_bins=80". A relative path given through --set is relative to the working directory;
// relative paths in the file are relative to the file's folder.
//
// ParseGraphConfig checks the structure; Graph::Build (pipeline/graph-runner.h) then builds every stage in
// order, checking options and what flows between stages. Every error is a ConfigError with
// file:line:column and the key path (the stage name), e.g.
//   graph.yaml:12:11: fbank.type: unknown stage type 'features.fbnak' (did you mean 'features.fbank'?)
//   graph.yaml:18:12: model.input: no stage named 'fbnk' (did you mean 'fbank'?)
//   graph.yaml:9:5: cycle in the stage inputs: a -> b -> a
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "pipeline/config-yaml.h"

namespace ossicle {

struct StageSpec {
  std::string name;
  std::string type;
  std::vector<std::string> inputs;  // stage names, in the order given
  std::vector<size_t> input_indices;  // the same as indices into GraphConfig::stages
  YAML::Node options;               // a mapping (an empty one when absent)
  // For messages: the stage's mapping, its `type` value, its `input` value (or the stage node when absent),
  // and each input name.
  YAML::Node node, type_node, input_node;
  std::vector<YAML::Node> input_nodes;
  // Option key paths set by --set with their values as given (paths among them resolve against the working
  // directory, not the graph file's folder).
  std::vector<std::pair<std::string, std::string>> overrides;
};

struct GraphConfig {
  YamlSource source;             // the file, for messages and relative paths
  std::string description;
  std::vector<StageSpec> stages;  // in file order
  std::vector<size_t> order;      // a topological order: every stage after its inputs

  // The index of the stage called `name`, or -1.
  int Find(const std::string& name) const;
};

// Parses and checks the structure: top-level keys, each stage's keys, names (syntax, unique), types
// (registered), inputs (exist, no cycles), overrides (the stage exists). Throws ConfigError.
GraphConfig ParseGraphConfig(const YAML::Node& root, const YamlSource& source,
                             const std::vector<std::string>& overrides = {});
// Reads `path` (IoError when unreadable, ConfigError on YAML syntax) and parses it.
GraphConfig LoadGraphConfig(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace ossicle
