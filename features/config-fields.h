// One field list per config struct.
//
// Every ...Config struct declares its fields once, in a static `Fields(self, visitor)` template:
//
//   struct FrameConfig {
//     double frame_length_ms = 25.0;
//     template <class Self, class Visitor>
//     static void Fields(Self& self, Visitor&& v) {
//       v(FieldInfo{"frame_length_ms", "ms", "window length"}, self.frame_length_ms);
//     }
//   };
//
// That one list drives ToString() (here), YAML read/write and the generated configuration reference
// (pipeline/), so they cannot drift apart. A field is a number, a bool, a std::string, an enum with
// EnumNames<> or a nested config struct.
#pragma once

#include <array>
#include <concepts>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ossicle {

struct FieldInfo {
  std::string_view name;  // key in YAML and in ToString()
  std::string_view unit;  // "Hz", "ms", "" when dimensionless
  std::string_view help;  // one sentence for the configuration reference
};

// Specialise for every enum used in a config:
//   template <> struct EnumNames<WindowType> {
//     static constexpr std::array kValues{std::pair{WindowType::kHann, std::string_view{"hann"}}, ...};
//   };
template <class E>
struct EnumNames;

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires { EnumNames<E>::kValues; };

// A list-valued field: written [a, b] in YAML (a single value reads as a list of one).
template <class T>
concept StringList = std::is_same_v<T, std::vector<std::string>>;

template <class T>
concept ConfigStruct = requires(T& t) { T::Fields(t, [](FieldInfo, auto&) {}); };

template <NamedEnum E>
constexpr std::string_view EnumToString(E value) {
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (v == value) return name;
  }
  return "?";
}

template <NamedEnum E>
constexpr std::optional<E> EnumFromString(std::string_view text) {
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (name == text) return v;
  }
  return std::nullopt;
}

// "hann|hamming|povey" — the accepted spellings, for messages and docs.
template <NamedEnum E>
std::string EnumChoices() {
  std::string out;
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (!out.empty()) out += '|';
    out += name;
  }
  return out;
}

// Formats one scalar value the way YAML would read it back.
template <class T>
std::string FormatValue(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (NamedEnum<T>) {
    return std::string(EnumToString(value));
  } else if constexpr (std::is_same_v<T, std::string>) {
    return value.empty() ? std::string("\"\"") : value;
  } else if constexpr (StringList<T>) {
    std::string out = "[";
    for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + FormatValue(value[i]);
    return out + "]";
  } else {
    std::ostringstream os;
    os.precision(10);
    os << value;
    return os.str();
  }
}

// "{frame_length_ms: 25, frame_shift_ms: 10, mel: {num_mel_bins: 40, ...}}" — every field, nested
// structs included (a flow-style YAML mapping, so it can be pasted into a config).
template <ConfigStruct C>
std::string ConfigToString(const C& config) {
  std::string out = "{";
  bool first = true;
  C::Fields(config, [&](FieldInfo info, const auto& value) {
    using T = std::remove_cvref_t<decltype(value)>;
    if (!first) out += ", ";
    first = false;
    out += info.name;
    out += ": ";
    if constexpr (ConfigStruct<T>) {
      out += ConfigToString(value);
    } else {
      out += FormatValue(value);
    }
  });
  out += "}";
  return out;
}

// Builds the message of a ConfigError for a broken rule: "frame.frame_length_ms = 0; expected > 0".
template <class T>
std::string RuleMessage(std::string_view path, std::string_view field, const T& value,
                        std::string_view rule) {
  std::string out(path);
  if (!out.empty()) out += '.';
  out += field;
  out += " = ";
  out += FormatValue(value);
  out += "; expected ";
  out += rule;
  return out;
}

}  // namespace ossicle
