// The model library against PyTorch: every reference case in tests/data/models (and the 3-layer H=128
// case from ../shared/reference/lstm when present) loaded by PyTorch's state_dict names, run over the
// padded batch, compared with PyTorch's rnn_output, logits and log_probs (float64) within 1e-5 absolute.
// The goldens were made by make_lstm_golden.py (next to them; see its header for every convention).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "models/acoustic-model.h"
#include "models/safetensors.h"
#include "models/golden-case.h"

namespace ossicle {
namespace {

constexpr double kTolerance = 1e-5;

using test::GoldenCase;
// Max |got - want| over every frame, padding included (PyTorch's values there: zeros for rnn_output, the
// head applied to zeros for logits and log_probs); rnn_output must be exactly zero past each length.
void Compare(const std::string& what, const MatrixF& got, const std::vector<double>& want,
             const SequenceBatch& input) {
  INFO(what);
  REQUIRE(static_cast<size_t>(got.size()) == want.size());
  const int64_t cols = got.cols(), frames = input.max_frames;
  double worst = 0.0;
  int64_t worst_i = 0;
  for (int64_t r = 0; r < got.rows(); ++r) {
    const bool valid = r % frames < input.lengths[static_cast<size_t>(r / frames)];
    for (int64_t j = 0; j < cols; ++j) {
      const double d = std::abs(static_cast<double>(got(r, j)) - want[static_cast<size_t>(r * cols + j)]);
      if (!valid && what == "rnn_output") REQUIRE(got(r, j) == 0.0f);
      if (d > worst) {
        worst = d;
        worst_i = r * cols + j;
      }
    }
  }
  INFO("worst at batch " << worst_i / cols / frames << " frame " << worst_i / cols % frames << " index "
                         << worst_i % cols << ": expected " << want[static_cast<size_t>(worst_i)] << ", got "
                         << got.data()[worst_i] << " (max abs diff " << worst << ")");
  CHECK(worst <= kTolerance);
}

void CheckCase(const std::string& path) {
  INFO(path);
  GoldenCase c = test::LoadGoldenCase(path);
  auto model = AcousticModel::FromTensors(
      c.arch, [&](const std::string& name, std::vector<int64_t> shape) { return c.file.ReadFloat(name, shape); },
      path);
  const ModelOutput out = model->Forward(c.input);
  Compare("rnn_output", out.rnn_output.data, c.file.ReadDouble("rnn_output"), c.input);
  Compare("logits", out.logits.data, c.file.ReadDouble("logits"), c.input);
  Compare("log_probs", out.log_probs.data, c.file.ReadDouble("log_probs"), c.input);

  // Two threads (directions in parallel) compute exactly the same thing.
  const ModelOutput two = model->Forward(c.input, 2);
  CHECK((two.log_probs.data - out.log_probs.data).cwiseAbs().maxCoeff() == 0.0f);

  // Each sequence alone gives the same frames as inside the padded batch.
  for (size_t b = 0; b < c.input.lengths.size(); ++b) {
    const int64_t len = c.input.lengths[b];
    const ModelOutput one =
        model->Forward(SingleSequence(c.input.data.middleRows(static_cast<int64_t>(b) * c.input.max_frames, len)));
    const MatrixF diff = one.log_probs.data - out.log_probs.data.middleRows(static_cast<int64_t>(b) * c.input.max_frames, len);
    CHECK(diff.cwiseAbs().maxCoeff() <= 1e-6f);
  }
}

TEST_CASE("LSTM, 1 layer, unidirectional matches PyTorch", "[models][golden]") {
  CheckCase(test::ModelTestData("lstm_uni_1layer.safetensors"));
}
TEST_CASE("LSTM, 2 layers, bidirectional, padded batch matches PyTorch", "[models][golden][threads]") {
  CheckCase(test::ModelTestData("lstm_bi_2layer.safetensors"));
}
TEST_CASE("GRU, 2 layers, bidirectional, padded batch matches PyTorch", "[models][golden][threads]") {
  CheckCase(test::ModelTestData("gru_bi_2layer.safetensors"));
}
TEST_CASE("GRU, 2 layers, unidirectional, padded batch matches PyTorch", "[models][golden]") {
  CheckCase(test::ModelTestData("gru_uni_2layer.safetensors"));
}
TEST_CASE("LSTM, 3 layers, H=128, bidirectional matches PyTorch", "[models][golden][threads]") {
  const std::string path = std::string(OSSICLE_SHARED_DIR) + "/reference/lstm/lstm_bi_3layer_h128.safetensors";
  if (!std::filesystem::exists(path)) {
    WARN("skipped: " << path << " not found (../shared is not beside the project)");
    return;
  }
  CheckCase(path);
}

}  // namespace
}  // namespace ossicle
