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

namespace {

[[noreturn]] void ThrowTooDeep(const YamlSource& source, size_t line, size_t column, int max_depth) {
  throw ConfigError((source.file.empty() ? std::string("<yaml>") : source.file) + ":" + std::to_string(line + 1) +
                    ":" + std::to_string(column + 1) + ": YAML nesting deeper than " + std::to_string(max_depth) +
                    " levels (block indentation and [ { brackets); a configuration needs far fewer");
}

// True when position i of a line can start a token (a quoted scalar or a flow collection), not sit inside a
// plain scalar such as "it's" or "a[0]".
bool AtTokenStart(std::string_view l, size_t i) {
  if (i == 0) return true;
  const char p = l[i - 1];
  return p == ' ' || p == '\t' || p == '[' || p == '{' || p == ',' || p == ':';
}

}  // namespace

void CheckYamlNesting(std::string_view text, const YamlSource& source, int max_depth) {
  std::vector<size_t> indents;  // columns of the open block levels
  int flow = 0;                 // open [ and { brackets
  char quote = 0;               // inside a quoted scalar (may span lines)
  size_t scalar_indent = std::string_view::npos;  // inside a block scalar: lines indented more than this
  size_t pos = 0;
  for (size_t line = 0;; ++line) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    size_t i = 0;
    bool skip = false;
    if (quote == 0 && flow == 0) {
      const size_t ind = l.find_first_not_of(' ');
      if (ind == std::string_view::npos || l[ind] == '#') {
        skip = true;
      } else if (scalar_indent != std::string_view::npos && ind > scalar_indent) {
        skip = true;
      } else {
        scalar_indent = std::string_view::npos;
        if (ind == 0 && (l.substr(0, 3) == "---" || l.substr(0, 3) == "...")) indents.clear();
        while (!indents.empty() && indents.back() >= ind) indents.pop_back();
        indents.push_back(ind);
        i = ind;
        // "- - - x": every dash opens a sequence level.
        while (i + 1 < l.size() && l[i] == '-' && l[i + 1] == ' ') {
          i += 2;
          while (i < l.size() && l[i] == ' ') ++i;
          indents.push_back(i);
        }
        if (static_cast<int>(indents.size()) > max_depth) ThrowTooDeep(source, line, i, max_depth);
      }
    }
    if (!skip) {
      size_t content_end = l.size();
      for (; i < l.size(); ++i) {
        const char c = l[i];
        if (quote == '\'') {
          if (c == '\'') {
            if (i + 1 < l.size() && l[i + 1] == '\'') {
              ++i;
            } else {
              quote = 0;
            }
          }
          continue;
        }
        if (quote == '"') {
          if (c == '\\') {
            ++i;
          } else if (c == '"') {
            quote = 0;
          }
          continue;
        }
        if (c == '#' && (i == 0 || l[i - 1] == ' ' || l[i - 1] == '\t')) {
          content_end = i;
          break;
        }
        if ((c == '"' || c == '\'') && AtTokenStart(l, i)) {
          quote = c;
        } else if ((c == '[' || c == '{') && (flow > 0 || AtTokenStart(l, i))) {
          ++flow;
          if (static_cast<int>(indents.size()) + flow > max_depth) ThrowTooDeep(source, line, i, max_depth);
        } else if ((c == ']' || c == '}') && flow > 0) {
          --flow;
        }
      }
      // A block scalar ("key: |", "- >-") holds text, not structure, in its more indented lines.
      if (quote == 0 && flow == 0 && !indents.empty()) {
        std::string_view content = l.substr(0, content_end);
        while (!content.empty() && (content.back() == ' ' || content.back() == '\t')) content.remove_suffix(1);
        const size_t start = content.find_last_of(" \t");
        const std::string_view token = start == std::string_view::npos ? content : content.substr(start + 1);
        if (!token.empty() && (token[0] == '|' || token[0] == '>') &&
            token.find_first_not_of("|>+-0123456789") == std::string_view::npos) {
          scalar_indent = l.find_first_not_of(' ');
        }
      }
    }
    if (end == text.size()) break;
    pos = end + 1;
  }
}

YAML::Node LoadYamlFile(const std::string& file, YamlSource& source, const YamlLimits& limits) {
  source.file = file;
  source.base_dir = std::filesystem::absolute(std::filesystem::path(file)).parent_path();
  std::error_code ec;
  const auto status = std::filesystem::status(file, ec);
  if (!ec && std::filesystem::is_directory(status)) throw IoError(file + ": is a directory, not a configuration file");
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    throw IoError(file + ": is not a regular file");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw IoError(file + ": cannot open configuration file");
  const auto size = static_cast<int64_t>(std::filesystem::file_size(file, ec));
  if (!ec && size > limits.max_file_bytes) {
    throw IoError(file + ": " + std::to_string(size) + " bytes; a configuration file is at most " +
                  std::to_string(limits.max_file_bytes) + " bytes");
  }
  std::string text(static_cast<size_t>(ec ? 0 : size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  CheckYamlNesting(text, source, limits.max_nesting_depth);
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(FormatMark(source, e.mark) + ": YAML syntax error: " + e.msg);
  }
}

}  // namespace ossicle
