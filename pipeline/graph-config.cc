#include "pipeline/graph-config.h"

#include <algorithm>
#include <filesystem>
#include <functional>

#include "features/errors.h"
#include "pipeline/stage-registry.h"

namespace ossicle {

namespace {

// Stage names are used in --set keys (split at '.'), in messages and in file names: keep them plain.
bool ValidStageName(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string Suggest(const std::string& typo, const std::vector<std::string_view>& candidates) {
  const std::string near = NearestName(typo, candidates);
  return near.empty() ? std::string() : " (did you mean '" + near + "'?)";
}

void CheckGraphKeys(const YAML::Node& map, const std::vector<std::string_view>& known, const YamlSource& source,
               const std::string& key_path) {
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      ThrowYamlError(source, kv.first, key_path, "unknown key '" + key + "'" + Suggest(key, known));
    }
  }
}

StageSpec ParseStage(const YAML::Node& node_in, size_t index, const YamlSource& source) {
  const YAML::Node& node = node_in;  // const: looking up a missing key must not add it
  const std::string where = "stages[" + std::to_string(index) + "]";
  if (!node.IsMap()) ThrowYamlError(source, node, where, "expected a mapping with name, type, input and options");
  StageSpec spec;
  spec.node = node;
  const YAML::Node name = node["name"];
  if (!name.IsDefined() || name.IsNull()) ThrowYamlError(source, node, where, "missing key 'name'");
  spec.name = ReadScalar<std::string>(name, source, where + ".name");
  if (!ValidStageName(spec.name)) {
    ThrowYamlError(source, name, where + ".name",
                   "stage name '" + spec.name + "' may only hold letters, digits, '_' and '-'");
  }
  CheckGraphKeys(node, {"name", "type", "input", "options"}, source, spec.name);
  // Missing keys give yaml-cpp's invalid "zombie" nodes, which must not be assigned: check first.
  const YAML::Node type = node["type"];
  if (!type.IsDefined() || type.IsNull()) {
    ThrowYamlError(source, node, spec.name, "missing key 'type' (one of: " + [] {
      std::string all;
      for (auto n : StageRegistry::Builtin().Names()) all += (all.empty() ? "" : ", ") + std::string(n);
      return all;
    }() + ")");
  }
  spec.type_node = type;
  spec.type = ReadScalar<std::string>(spec.type_node, source, spec.name + ".type");
  if (StageRegistry::Builtin().Find(spec.type) == nullptr) {
    ThrowYamlError(source, spec.type_node, spec.name + ".type",
                   "unknown stage type '" + spec.type + "'" + Suggest(spec.type, StageRegistry::Builtin().Names()));
  }
  const YAML::Node input = node["input"];
  if (input.IsDefined()) {
    spec.input_node = input;
  } else {
    spec.input_node = node;
  }
  if (input.IsDefined() && !input.IsNull()) {
    if (input.IsSequence()) {
      for (size_t i = 0; i < input.size(); ++i) {
        spec.inputs.push_back(ReadScalar<std::string>(input[i], source, spec.name + ".input"));
        spec.input_nodes.push_back(input[i]);
      }
    } else {
      spec.inputs.push_back(ReadScalar<std::string>(input, source, spec.name + ".input"));
      spec.input_nodes.push_back(input);
    }
  }
  const YAML::Node options = node["options"];
  if (options.IsDefined() && !options.IsNull()) {
    if (!options.IsMap()) ThrowYamlError(source, options, spec.name + ".options", "expected a mapping of option keys to values");
    spec.options = options;
  } else {
    spec.options = YAML::Node(YAML::NodeType::Map);
  }
  return spec;
}

// Depth-first topological sort; a back edge is a cycle, reported with its path.
std::vector<size_t> TopologicalOrder(const GraphConfig& g) {
  enum class Mark { kNew, kActive, kDone };
  std::vector<Mark> mark(g.stages.size(), Mark::kNew);
  std::vector<size_t> order, path;
  std::function<void(size_t)> visit = [&](size_t i) {
    if (mark[i] == Mark::kDone) return;
    if (mark[i] == Mark::kActive) {
      std::string cycle;
      const auto from = std::find(path.begin(), path.end(), i);
      for (auto it = from; it != path.end(); ++it) cycle += g.stages[*it].name + " -> ";
      cycle += g.stages[i].name;
      ThrowYamlError(g.source, g.stages[i].input_node, g.stages[i].name + ".input",
                     "cycle in the stage inputs: " + cycle);
    }
    mark[i] = Mark::kActive;
    path.push_back(i);
    for (size_t j : g.stages[i].input_indices) visit(j);
    path.pop_back();
    mark[i] = Mark::kDone;
    order.push_back(i);
  };
  for (size_t i = 0; i < g.stages.size(); ++i) visit(i);
  return order;
}

}  // namespace

int GraphConfig::Find(const std::string& name) const {
  for (size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

GraphConfig ParseGraphConfig(const YAML::Node& root, const YamlSource& source,
                             const std::vector<std::string>& overrides) {
  GraphConfig g;
  g.source = source;
  if (!root.IsDefined() || root.IsNull()) ThrowYamlError(source, root, "", "empty graph: expected a mapping with 'stages'");
  if (!root.IsMap()) ThrowYamlError(source, root, "", "expected a mapping with 'stages'");
  CheckGraphKeys(root, {"description", "stages"}, source, "");
  if (root["description"].IsDefined()) g.description = ReadScalar<std::string>(root["description"], source, "description");
  const YAML::Node stages = root["stages"];
  if (!stages.IsDefined() || stages.IsNull()) ThrowYamlError(source, root, "", "missing key 'stages' (a list of stages)");
  if (!stages.IsSequence() || stages.size() == 0) ThrowYamlError(source, stages, "stages", "expected a non-empty list of stages");

  for (size_t i = 0; i < stages.size(); ++i) {
    StageSpec spec = ParseStage(stages[i], i, source);
    if (g.Find(spec.name) >= 0) {
      ThrowYamlError(source, spec.node["name"], spec.name + ".name",
                     "duplicate stage name '" + spec.name + "' (first used at " +
                         FormatMark(source, g.stages[static_cast<size_t>(g.Find(spec.name))].node.Mark()) + ")");
    }
    g.stages.push_back(std::move(spec));
  }

  std::vector<std::string_view> names;
  for (const auto& s : g.stages) names.push_back(s.name);
  for (auto& s : g.stages) {
    for (size_t k = 0; k < s.inputs.size(); ++k) {
      const int j = g.Find(s.inputs[k]);
      if (j < 0) {
        ThrowYamlError(source, s.input_nodes[k], s.name + ".input",
                       "no stage named '" + s.inputs[k] + "'" + Suggest(s.inputs[k], names));
      }
      if (std::find(s.input_indices.begin(), s.input_indices.end(), static_cast<size_t>(j)) != s.input_indices.end()) {
        ThrowYamlError(source, s.input_nodes[k], s.name + ".input", "stage '" + s.inputs[k] + "' is listed twice");
      }
      s.input_indices.push_back(static_cast<size_t>(j));
    }
  }
  g.order = TopologicalOrder(g);

  for (const std::string& assignment : overrides) {
    const size_t eq = assignment.find('=');
    const size_t dot = assignment.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 || dot + 1 == eq) {
      throw ConfigError("--set '" + assignment + "': expected stage.option=value (e.g. model.path=cmds.safetensors)");
    }
    const std::string stage = assignment.substr(0, dot);
    const int j = g.Find(stage);
    if (j < 0) {
      throw ConfigError("--set '" + assignment + "': no stage named '" + stage + "' in " + source.file +
                        Suggest(stage, names));
    }
    StageSpec& s = g.stages[static_cast<size_t>(j)];
    // A copy, so that the caller's tree stays as it was (the copy has no positions: messages about
    // overridden options point at the stage).
    if (s.overrides.empty()) s.options = YAML::Clone(s.options);
    ApplyOverride(s.options, assignment.substr(dot + 1));
    s.overrides.emplace_back(assignment.substr(dot + 1, eq - dot - 1), assignment.substr(eq + 1));
  }
  return g;
}

GraphConfig LoadGraphConfig(const std::string& path, const std::vector<std::string>& overrides) {
  YamlSource source;
  const YAML::Node root = LoadYamlFile(path, source);
  return ParseGraphConfig(root, source, overrides);
}

}  // namespace ossicle
