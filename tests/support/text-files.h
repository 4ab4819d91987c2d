// Small text files for tests (manifests, configs): written byte for byte, the path returned.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace ossicle::test {

// Writes `text` to dir/name (replacing it) and returns the path.
inline std::string WriteText(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  const std::filesystem::path p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

}  // namespace ossicle::test
