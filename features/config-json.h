// JSON <-> config structs through their single field list (features/config-fields.h). Used where a
// configuration travels inside a file (a model file's feature configuration). Strict like the YAML reader:
// unknown keys and wrong types are ConfigErrors naming the key path.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "features/config-fields.h"
#include "features/errors.h"

namespace ossicle {

template <ConfigStruct C>
nlohmann::json ConfigToJson(const C& config) {
  nlohmann::json out = nlohmann::json::object();
  C::Fields(config, [&](FieldInfo info, const auto& value) {
    using T = std::remove_cvref_t<decltype(value)>;
    if constexpr (ConfigStruct<T>) {
      out[std::string(info.name)] = ConfigToJson(value);
    } else if constexpr (NamedEnum<T>) {
      out[std::string(info.name)] = std::string(EnumToString(value));
    } else {
      out[std::string(info.name)] = value;
    }
  });
  return out;
}

// Reads `j` into `config` (absent keys keep their values). `where` prefixes messages (file and key path).
template <ConfigStruct C>
void ConfigFromJson(const nlohmann::json& j, C& config, const std::string& where) {
  if (!j.is_object()) throw ConfigError(where + ": expected a JSON object");
  for (const auto& item : j.items()) {
    const std::string& key = item.key();  // a named variable: clang 14 cannot capture a structured binding
    bool known = false;
    C::Fields(config, [&](FieldInfo info, auto&) { known = known || info.name == key; });
    if (!known) throw ConfigError(where + ": unknown key '" + key + "'");
  }
  C::Fields(config, [&](FieldInfo info, auto& value) {
    using T = std::remove_cvref_t<decltype(value)>;
    const std::string key(info.name);
    if (!j.contains(key)) return;
    const nlohmann::json& v = j.at(key);
    const std::string path = where + "." + key;
    if constexpr (ConfigStruct<T>) {
      ConfigFromJson(v, value, path);
    } else if constexpr (NamedEnum<T>) {
      const auto parsed = v.is_string() ? EnumFromString<T>(v.get<std::string>()) : std::nullopt;
      if (!parsed) throw ConfigError(path + ": " + v.dump() + " is not one of " + EnumChoices<T>());
      value = *parsed;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!v.is_boolean()) throw ConfigError(path + ": expected true or false, got " + v.dump());
      value = v.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) throw ConfigError(path + ": expected an integer, got " + v.dump());
      value = v.get<T>();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) throw ConfigError(path + ": expected a number, got " + v.dump());
      value = v.get<T>();
    } else if constexpr (StringList<T>) {
      if (!v.is_array()) throw ConfigError(path + ": expected a list of strings, got " + v.dump());
      value.clear();
      for (const auto& item : v) {
        if (!item.is_string()) throw ConfigError(path + ": expected a list of strings, got " + v.dump());
        value.push_back(item.get<std::string>());
      }
    } else {
      if (!v.is_string()) throw ConfigError(path + ": expected a string, got " + v.dump());
      value = v.get<std::string>();
    }
  });
}

}  // namespace ossicle
