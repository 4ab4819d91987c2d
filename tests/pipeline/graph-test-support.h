// Shared by the graph tests: a small random-weight model file and graph files written into a temporary folder.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "features/feature-config.h"
#include "models/acoustic-model.h"
#include "support/bad-audio-files.h"

namespace ossicle::test {

inline std::string TestAudio(const std::string& name) { return std::string(OSSICLE_SOURCE_DIR) + "/test-audio/" + name; }

// A frame-head model over `features` with PyTorch's default initialisation (seeded), saved as `name`.
inline std::string WriteTestModel(const std::filesystem::path& dir, const std::string& name, const FeatureConfig& features,
                                  std::vector<std::string> labels, bool bidirectional = true,
                                  CellType cell = CellType::kLstm, uint64_t seed = 7) {
  ModelArchitecture arch;
  arch.cell = cell;
  arch.input_size = features.Dim();
  arch.hidden_size = 8;
  arch.num_layers = 2;
  arch.bidirectional = bidirectional;
  arch.num_classes = static_cast<int>(labels.size());
  auto model = AcousticModel::Initialize(arch, features, std::move(labels), seed);
  const std::string path = (dir / name).string();
  model->Save(path);
  return path;
}

inline std::string WriteText(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
  return path.string();
}

inline std::string ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::string ReadFirstLine(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace ossicle::test
