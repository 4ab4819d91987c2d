// Streaming properties of ModelStream: unidirectional models give the whole-input result for any
// chunking; bidirectional modes give exactly the offline result when the chunk or window covers the input,
// and their own output does not depend on how the frames are fed.
#include <catch2/catch.hpp>

#include <random>

#include "models/model-stream.h"
#include "models/safetensors.h"

namespace ossicle {
namespace {

std::shared_ptr<const AcousticModel> ImportGolden(const std::string& name) {
  return AcousticModel::ImportTorch(std::string(OSSICLE_TEST_DATA_DIR) + "/models/" + name, FeatureConfig{}, {});
}

MatrixF RandomFrames(int64_t n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  MatrixF x(n, dim);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = d(rng);
  return x;
}

// Feeds `x` in random chunks of 0..max_chunk frames, collects every output frame.
MatrixF Stream(const std::shared_ptr<const AcousticModel>& model, const StreamingConfig& config, const MatrixF& x,
               int max_chunk, uint32_t seed) {
  ModelStream s(model, config);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> len(0, max_chunk);
  MatrixF out(x.rows(), model->Architecture().num_classes);
  int64_t got = 0;
  auto take = [&]() {
    for (; got < s.NumFramesReady(); ++got) {
      auto f = s.LogProbs(got);
      std::copy(f.begin(), f.end(), out.row(got).data());
    }
    s.ReleaseFramesBefore(got);
  };
  for (int64_t pos = 0; pos < x.rows();) {
    const int64_t n = std::min<int64_t>(len(rng), x.rows() - pos);
    s.AcceptFrames(x.middleRows(pos, n));
    pos += n;
    take();
  }
  s.InputFinished();
  take();
  REQUIRE(got == x.rows());
  return out;
}

MatrixF Offline(const std::shared_ptr<const AcousticModel>& model, const MatrixF& x) {
  return model->Forward(SingleSequence(x)).log_probs.data;
}

TEST_CASE("a unidirectional model streams exactly, whatever the chunking", "[models][streaming]") {
  auto model = ImportGolden("gru_uni_2layer.safetensors");
  const MatrixF x = RandomFrames(137, model->Architecture().input_size, 1);
  const MatrixF offline = Offline(model, x);
  for (int max_chunk : {1, 3, 17, 200}) {
    INFO("max chunk " << max_chunk);
    // Bit-identical is not promised (different batching of the same sums); 1e-6 is float rounding.
    CHECK((Stream(model, StreamingConfig{}, x, max_chunk, 7) - offline).cwiseAbs().maxCoeff() <= 1e-6f);
  }
}

TEST_CASE("bidirectional: a chunk or window covering the input equals offline", "[models][streaming]") {
  auto model = ImportGolden("lstm_bi_2layer.safetensors");
  const MatrixF x = RandomFrames(90, model->Architecture().input_size, 2);
  const MatrixF offline = Offline(model, x);
  StreamingConfig chunked;
  chunked.mode = BidirectionalMode::kChunked;
  chunked.chunk_frames = 90;
  chunked.right_context_frames = 5;
  CHECK((Stream(model, chunked, x, 13, 3) - offline).cwiseAbs().maxCoeff() == 0.0f);
  StreamingConfig window;
  window.mode = BidirectionalMode::kSlidingWindow;
  window.window_frames = 120;
  window.hop_frames = 40;
  CHECK((Stream(model, window, x, 13, 4) - offline).cwiseAbs().maxCoeff() == 0.0f);
  StreamingConfig off;
  off.mode = BidirectionalMode::kOffline;
  CHECK((Stream(model, off, x, 13, 5) - offline).cwiseAbs().maxCoeff() == 0.0f);
}

TEST_CASE("bidirectional chunked and sliding-window outputs do not depend on how frames arrive",
          "[models][streaming]") {
  auto model = ImportGolden("gru_bi_2layer.safetensors");
  const MatrixF x = RandomFrames(211, model->Architecture().input_size, 6);
  const MatrixF offline = Offline(model, x);
  StreamingConfig chunked;
  chunked.chunk_frames = 32;
  chunked.right_context_frames = 8;
  StreamingConfig window;
  window.mode = BidirectionalMode::kSlidingWindow;
  window.window_frames = 64;
  window.hop_frames = 24;
  for (const StreamingConfig& c : {chunked, window}) {
    INFO(ConfigToString(c));
    const MatrixF a = Stream(model, c, x, 1, 8);
    const MatrixF b = Stream(model, c, x, 50, 9);
    CHECK((a - b).cwiseAbs().maxCoeff() == 0.0f);
    // Limited context changes the result, but not wildly: close to offline on average.
    const float mean_diff = (a - offline).cwiseAbs().mean();
    CHECK(mean_diff > 0.0f);
    CHECK(mean_diff < 0.5f);
  }
}

TEST_CASE("reset then rerun equals a fresh stream", "[models][streaming]") {
  auto model = ImportGolden("lstm_bi_2layer.safetensors");
  const MatrixF x = RandomFrames(70, 40, 10), y = RandomFrames(55, 40, 11);
  StreamingConfig c;
  c.chunk_frames = 16;
  ModelStream s(model, c);
  s.AcceptFrames(x);
  s.InputFinished();
  s.Reset();
  CHECK(s.NumFramesReady() == 0);
  s.AcceptFrames(y);
  s.InputFinished();
  const MatrixF fresh = Stream(model, c, y, 55, 12);
  REQUIRE(s.NumFramesReady() == 55);
  for (int64_t t = 0; t < 55; ++t) {
    auto f = s.LogProbs(t);
    for (int k = 0; k < 12; ++k) REQUIRE(f[static_cast<size_t>(k)] == fresh(t, k));
  }
}

TEST_CASE("streaming configuration rules name the field", "[models][streaming][config]") {
  auto model = ImportGolden("lstm_uni_1layer.safetensors");
  StreamingConfig c;
  c.chunk_frames = 0;
  CHECK_THROWS_WITH(ModelStream(model, c), Catch::Contains("streaming.chunk_frames = 0; expected >= 1"));
  c = StreamingConfig{};
  c.hop_frames = 300;
  CHECK_THROWS_WITH(ModelStream(model, c), Catch::Contains("streaming.hop_frames = 300; expected between 1 and"));
  ModelStream ok(model, StreamingConfig{});
  CHECK_THROWS_WITH(ok.AcceptFrames(MatrixF::Zero(3, 7)),
                    Catch::Contains("model input has 7 values per frame; the model expects 5"));
}

}  // namespace
}  // namespace ossicle
