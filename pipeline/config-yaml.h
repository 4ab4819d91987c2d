// YAML <-> config structs, driven by each struct's single field list (features/config-fields.h).
//
// Reading is strict: unknown keys are errors (with the nearest valid name suggested), every value is
// type-checked, and messages carry file:line:column and the key path:
//   features.yaml:4:3: features.frame: unknown key 'frame_lenght_ms' (did you mean 'frame_length_ms'?)
//   features.yaml:6:17: features.mel.num_mel_bins: expected an integer, got 'forty'
// Fields whose unit is "path" (strings and lists of strings) are resolved against the YAML file's folder.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "features/config-fields.h"
#include "features/errors.h"

namespace ossicle {

// Where a YAML document came from, for messages and relative paths.
struct YamlSource {
  std::string file;                // "" for text not read from a file
  std::filesystem::path base_dir;  // relative paths resolve against this
};

std::string FormatMark(const YamlSource& source, const YAML::Mark& mark);
[[noreturn]] void ThrowYamlError(const YamlSource& source, const YAML::Node& node, std::string_view key_path,
                                 std::string_view what);
std::string NearestName(std::string_view typo, const std::vector<std::string_view>& candidates);
std::string JoinKey(std::string_view path, std::string_view key);

// Parses a scalar into T (bool, integer, floating point, std::string). Throws ConfigError on mismatch.
template <class T>
T ReadScalar(const YAML::Node& node, const YamlSource& source, std::string_view key_path);

// Reads `node` (a mapping) into `config`; absent keys keep their current values.
template <ConfigStruct C>
void ReadConfig(const YAML::Node& node, C& config, const YamlSource& source, const std::string& key_path) {
  if (node.IsNull()) return;
  if (!node.IsMap()) ThrowYamlError(source, node, key_path, "expected a mapping of keys to values");
  std::vector<std::string_view> names;
  C::Fields(config, [&](FieldInfo info, auto&) { names.push_back(info.name); });
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    bool known = false;
    for (auto n : names) known = known || n == key;
    if (!known) {
      std::string what = "unknown key '" + key + "'";
      const std::string near = NearestName(key, names);
      if (!near.empty()) what += " (did you mean '" + near + "'?)";
      ThrowYamlError(source, kv.first, key_path, what);
    }
  }
  C::Fields(config, [&](FieldInfo info, auto& value) {
    using T = std::remove_cvref_t<decltype(value)>;
    const YAML::Node child = node[std::string(info.name)];
    if (!child.IsDefined()) return;
    const std::string child_path = JoinKey(key_path, info.name);
    if constexpr (ConfigStruct<T>) {
      ReadConfig(child, value, source, child_path);
    } else if constexpr (NamedEnum<T>) {
      const auto text = ReadScalar<std::string>(child, source, child_path);
      const auto parsed = EnumFromString<T>(text);
      if (!parsed) ThrowYamlError(source, child, child_path, "'" + text + "' is not one of " + EnumChoices<T>());
      value = *parsed;
    } else if constexpr (StringList<T>) {
      value.clear();
      if (child.IsSequence()) {
        for (size_t i = 0; i < child.size(); ++i) {
          value.push_back(ReadScalar<std::string>(child[i], source, child_path + "[" + std::to_string(i) + "]"));
        }
      } else if (!child.IsNull()) {
        value.push_back(ReadScalar<std::string>(child, source, child_path));
      }
      if (info.unit == "path") {
        for (auto& item : value) {
          if (!item.empty() && std::filesystem::path(item).is_relative()) {
            item = (source.base_dir / item).lexically_normal().string();
          }
        }
      }
    } else {
      value = ReadScalar<T>(child, source, child_path);
      if constexpr (std::is_same_v<T, std::string>) {
        if (info.unit == "path" && !value.empty() && std::filesystem::path(value).is_relative()) {
          value = (source.base_dir / value).lexically_normal().string();
        }
      }
    }
  });
}

// Every field as a YAML mapping (block style when emitted).
template <ConfigStruct C>
YAML::Node ConfigToYaml(const C& config) {
  YAML::Node out(YAML::NodeType::Map);
  C::Fields(config, [&](FieldInfo info, const auto& value) {
    using T = std::remove_cvref_t<decltype(value)>;
    if constexpr (ConfigStruct<T>) {
      out[std::string(info.name)] = ConfigToYaml(value);
    } else if constexpr (NamedEnum<T>) {
      out[std::string(info.name)] = std::string(EnumToString(value));
    } else {
      out[std::string(info.name)] = value;
    }
  });
  return out;
}

// One row per leaf field, for the generated configuration reference.
struct ConfigDocRow {
  std::string key;    // dotted path
  std::string type;   // "float", "int", "bool", "string", "hann|hamming|..."
  std::string unit;
  std::string default_value;
  std::string help;
};
template <ConfigStruct C>
void CollectConfigDocs(const C& defaults, const std::string& prefix, std::vector<ConfigDocRow>& rows) {
  C::Fields(defaults, [&](FieldInfo info, const auto& value) {
    using T = std::remove_cvref_t<decltype(value)>;
    const std::string key = JoinKey(prefix, info.name);
    if constexpr (ConfigStruct<T>) {
      CollectConfigDocs(value, key, rows);
    } else {
      std::string type;
      if constexpr (NamedEnum<T>) {
        type = EnumChoices<T>();
      } else if constexpr (StringList<T>) {
        type = "list of string";
      } else if constexpr (std::is_same_v<T, bool>) {
        type = "bool";
      } else if constexpr (std::is_integral_v<T>) {
        type = "int";
      } else if constexpr (std::is_floating_point_v<T>) {
        type = "float";
      } else {
        type = "string";
      }
      rows.push_back({key, type, std::string(info.unit), FormatValue(value), std::string(info.help)});
    }
  });
}

// Applies "a.b.c=value" to a YAML tree (creating maps as needed). Throws ConfigError on bad syntax.
void ApplyOverride(YAML::Node& root, std::string_view assignment);

// Bounds on a configuration file, checked before yaml-cpp sees it (yaml-cpp recurses once per nesting level
// and gives up near 1000 levels with "bad file"; our own code recurses over nodes too).
struct YamlLimits {
  int64_t max_file_bytes = int64_t{16} << 20;  // configurations are a few kB; larger is not a configuration
  int max_nesting_depth = 64;                  // block indentation levels + open flow brackets; ours use < 10
};

// Loads a YAML file (ConfigError with file:line:column on syntax errors, IoError if unreadable).
// Refused before parsing: a directory ("<file>: is a directory, not a configuration file"), a FIFO or device
// ("<file>: is not a regular file", never blocks), a file over limits.max_file_bytes (IoError) and nesting
// deeper than limits.max_nesting_depth (ConfigError, see CheckYamlNesting).
YAML::Node LoadYamlFile(const std::string& file, YamlSource& source, const YamlLimits& limits = {});

// Throws ConfigError "<file>:<line>:<column>: YAML nesting deeper than 64 levels (block indentation and
// [ { brackets); a configuration needs far fewer" at the first place the depth exceeds max_depth. A text
// scan (quotes, comments and block scalars skipped), so it works on text yaml-cpp would choke on.
void CheckYamlNesting(std::string_view text, const YamlSource& source, int max_depth);

}  // namespace ossicle
