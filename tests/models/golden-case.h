// One PyTorch golden case from ../shared/reference/lstm (or its copy in tests/data/models): the safetensors
// file, the architecture from its "config" metadata, and its input as a SequenceBatch.
// Conventions: ../shared/reference/make_lstm_golden.py.
#pragma once

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/acoustic-model.h"
#include "models/safetensors.h"

namespace ossicle::test {

// A file of tests/data/models (the goldens and the small model files).
inline std::string ModelTestData(const std::string& name) {
  return std::string(OSSICLE_TEST_DATA_DIR) + "/models/" + name;
}

struct GoldenCase {
  SafetensorsFile file;
  ModelArchitecture arch;
  SequenceBatch input;
};

inline GoldenCase LoadGoldenCase(const std::string& path) {
  GoldenCase c{SafetensorsFile::Open(path), {}, {}};
  const auto cfg = nlohmann::json::parse(c.file.Metadata().at("config"));
  c.arch.cell = cfg.at("kind") == "lstm" ? CellType::kLstm : CellType::kGru;
  c.arch.input_size = cfg.at("input_size");
  c.arch.hidden_size = cfg.at("hidden_size");
  c.arch.num_layers = cfg.at("num_layers");
  c.arch.bidirectional = cfg.at("bidirectional");
  c.arch.num_classes = cfg.at("num_classes");
  const auto& shape = c.file.Info("input").shape;  // [B, T, F]
  c.input.max_frames = shape.at(1);
  c.input.lengths = c.file.ReadInt("lengths");
  const std::vector<float> x = c.file.ReadFloat("input");
  c.input.data = MatrixF(shape[0] * shape[1], shape[2]);
  std::copy(x.begin(), x.end(), c.input.data.data());
  return c;
}

}  // namespace ossicle::test
