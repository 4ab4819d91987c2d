#include "pipeline/config-yaml.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace ossicle {

std::string FormatMark(const YamlSource& source, const YAML::Mark& mark) {
  std::string out = source.file.empty() ? std::string("<yaml>") : source.file;
  if (!mark.is_null()) out += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  return out;
}

void ThrowYamlError(const YamlSource& source, const YAML::Node& node, std::string_view key_path,
                    std::string_view what) {
  std::string msg = FormatMark(source, node.Mark()) + ": ";
  if (!key_path.empty()) msg += std::string(key_path) + ": ";
  msg += what;
  throw ConfigError(msg);
}

std::string JoinKey(std::string_view path, std::string_view key) {
  std::string out(path);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string NearestName(std::string_view typo, const std::vector<std::string_view>& candidates) {
  // Levenshtein distance; suggest only close names (at most a third of the typo's length changed).
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  size_t best_d = std::max<size_t>(2, typo.size() / 3) + 1;
  for (auto c : candidates) {
    const size_t d = distance(typo, c);
    if (d < best_d) {
      best_d = d;
      best = std::string(c);
    }
  }
  return best;
}

template <class T>
T ReadScalar(const YAML::Node& node, const YamlSource& source, std::string_view key_path) {
  if (!node.IsScalar()) ThrowYamlError(source, node, key_path, "expected a single value, got a list or mapping");
  const std::string& text = node.Scalar();
  if constexpr (std::is_same_v<T, std::string>) {
    return text;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (text == "true" || text == "True" || text == "yes") return true;
    if (text == "false" || text == "False" || text == "no") return false;
    ThrowYamlError(source, node, key_path, "expected true or false, got '" + text + "'");
  } else if constexpr (std::is_integral_v<T>) {
    // Parse with T's signedness: a signed field takes negative values, and an unsigned one (uint64_t seeds)
    // its whole range up to 2^64 - 1, as ConfigToYaml writes them.
    using Wide = std::conditional_t<std::is_signed_v<T>, long long, unsigned long long>;
    if (std::is_unsigned_v<T> && !text.empty() && text[0] == '-') {  // the stream would wrap "-1" to 2^64 - 1
      ThrowYamlError(source, node, key_path, "integer '" + text + "' is out of range");
    }
    std::istringstream is(text);
    Wide v = 0;
    is >> v;
    if (!is || !is.eof() || text.empty()) ThrowYamlError(source, node, key_path, "expected an integer, got '" + text + "'");
    if (v < static_cast<Wide>(std::numeric_limits<T>::min()) || v > static_cast<Wide>(std::numeric_limits<T>::max())) {
      ThrowYamlError(source, node, key_path, "integer '" + text + "' is out of range");
    }
    return static_cast<T>(v);
  } else {
    static_assert(std::is_floating_point_v<T>);
    std::istringstream is(text);
    double v = 0;
    is >> v;
    if (!is || !is.eof() || text.empty() || !std::isfinite(v)) {
      ThrowYamlError(source, node, key_path, "expected a number, got '" + text + "'");
    }
    return static_cast<T>(v);
  }
}

template std::string ReadScalar<std::string>(const YAML::Node&, const YamlSource&, std::string_view);
template bool ReadScalar<bool>(const YAML::Node&, const YamlSource&, std::string_view);
template int ReadScalar<int>(const YAML::Node&, const YamlSource&, std::string_view);
template int64_t ReadScalar<int64_t>(const YAML::Node&, const YamlSource&, std::string_view);
template uint64_t ReadScalar<uint64_t>(const YAML::Node&, const YamlSource&, std::string_view);
template double ReadScalar<double>(const YAML::Node&, const YamlSource&, std::string_view);
template float ReadScalar<float>(const YAML::Node&, const YamlSource&, std::string_view);

void ApplyOverride(YAML::Node& root, std::string_view assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    throw ConfigError("--set '" + std::string(assignment) + "': expected key.path=value");
  }
  const std::string key(assignment.substr(0, eq));
  const std::string value(assignment.substr(eq + 1));
  std::vector<std::string> parts;
  if (key.front() == '.' || key.back() == '.') {
    throw ConfigError("--set '" + std::string(assignment) + "': empty key in the path");
  }
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) throw ConfigError("--set '" + std::string(assignment) + "': empty key in the path");
    parts.push_back(p);
  }
  // yaml-cpp's operator[] returns handles that share identity, so walking with reset() is safe.
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (cur[parts[i]].IsDefined() && !cur[parts[i]].IsMap() && !cur[parts[i]].IsNull()) {
      throw ConfigError("--set '" + std::string(assignment) + "': '" + parts[i] + "' is not a mapping");
    }
    if (!cur[parts[i]].IsDefined() || cur[parts[i]].IsNull()) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    YAML::Node next = cur[parts[i]];
    cur.reset(next);
  }
  cur[parts.back()] = YAML::Load(value);
}

YAML::Node LoadYamlFile(const std::string& file, YamlSource& source) {
  source.file = file;
  source.base_dir = std::filesystem::absolute(std::filesystem::path(file)).parent_path();
  std::ifstream in(file);
  if (!in) throw IoError(file + ": cannot open configuration file");
  try {
    return YAML::Load(in);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(FormatMark(source, e.mark) + ": YAML syntax error: " + e.msg);
  }
}

}  // namespace ossicle
