// Small string helpers shared by several files of pipeline/ (error messages, case-insensitive names).
// Internal to pipeline/.
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace ossicle {

// ASCII lower case.
inline std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// {"a", "b", "c"} -> "a, b, c" (for "expected one of ..." messages).
inline std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace ossicle
