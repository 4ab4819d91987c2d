// The training pass: gradients against PyTorch's (the goldens of make_lstm_golden.py, in tests/data/models),
// against central finite differences in double precision on tiny models of every layer kind, and its
// properties (forward equals inference, two threads equal one, accumulation, dropout, errors).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "features/errors.h"
#include "models/acoustic-model.h"
#include "models/losses.h"
#include "models/safetensors.h"
#include "models/training-pass.h"
#include "support/message-matcher.h"
#include "models/golden-case.h"

namespace ossicle {
namespace {

using test::HasMessage;

// Compares one tensor: max |got - want| must be within `tolerance` * max |want| (a relative tolerance that
// is not thrown off by individual values near zero). Prints the worst index with both values.
template <class Got>
void CompareTensor(const std::string& what, const Got& got, const std::vector<double>& want, double tolerance) {
  INFO(what);
  REQUIRE(static_cast<size_t>(got.size()) == want.size());
  double worst = 0, scale = 0;
  size_t worst_i = 0;
  for (size_t j = 0; j < want.size(); ++j) {
    const double d = std::abs(static_cast<double>(got[j]) - want[j]);
    scale = std::max(scale, std::abs(want[j]));
    if (d > worst) {
      worst = d;
      worst_i = j;
    }
  }
  INFO("worst at index " << worst_i << ": expected " << want[worst_i] << ", got " << got[worst_i]
                         << "; max abs diff " << worst << ", max |expected| " << scale);
  CHECK(worst <= tolerance * std::max(scale, 1e-30));
}

using test::GoldenCase;
// Losses within 1e-5 relative, gradients of every parameter and of the input within 1e-4 of the largest.
void CheckAgainstPyTorch(const std::string& path, int num_threads) {
  INFO(path << " with " << num_threads << " thread(s)");
  GoldenCase c = test::LoadGoldenCase(path);
  auto model = AcousticModel::FromTensors(
      c.arch, [&](const std::string& name, std::vector<int64_t> shape) { return c.file.ReadFloat(name, shape); },
      path);
  const int64_t batch = c.input.BatchSize();

  std::vector<int32_t> ce_targets;
  for (int64_t v : c.file.ReadInt("ce_targets")) ce_targets.push_back(static_cast<int32_t>(v));
  const std::vector<int64_t> ctc_flat = c.file.ReadInt("ctc_targets");
  const std::vector<int64_t> ctc_lengths = c.file.ReadInt("ctc_target_lengths");
  const int64_t ctc_width = c.file.Info("ctc_targets").shape.at(1);
  std::vector<std::vector<int32_t>> ctc_targets(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t j = 0; j < ctc_lengths[static_cast<size_t>(b)]; ++j) {
      ctc_targets[static_cast<size_t>(b)].push_back(static_cast<int32_t>(ctc_flat[static_cast<size_t>(b * ctc_width + j)]));
    }
  }

  TrainingPass pass(*model, {.dropout = 0, .num_threads = num_threads});
  for (const std::string loss_name : {"ce", "ctc"}) {
    INFO(loss_name);
    const ModelOutput& out = pass.Forward(c.input);
    MatrixF d_logits;
    LossResult loss;
    if (loss_name == "ce") {
      loss = FrameCrossEntropy(out.log_probs, ce_targets, {.ignore_index = -1}, &d_logits);
    } else {
      loss = CtcLoss(out.log_probs, ctc_targets, {.blank = 0}, &d_logits);
    }
    const double want_loss = c.file.ReadDouble(loss_name + "_loss").at(0);
    INFO("loss: expected " << want_loss << ", got " << loss.loss);
    CHECK(std::abs(loss.loss - want_loss) <= 1e-5 * std::abs(want_loss));
    ModelGradients grads = ModelGradients::ZerosLike(*model);
    MatrixF d_input;
    pass.Backward(d_logits, grads, &d_input);
    for (size_t i = 0; i < grads.names.size(); ++i) {
      CompareTensor("grad_" + loss_name + "." + grads.names[i], grads.values[i],
                    c.file.ReadDouble("grad_" + loss_name + "." + grads.names[i]), 1e-4);
    }
    CompareTensor("grad_" + loss_name + ".input", d_input.reshaped<Eigen::RowMajor>(),
                  c.file.ReadDouble("grad_" + loss_name + ".input"), 1e-4);
  }
}

TEST_CASE("losses and gradients match PyTorch's on every reference case", "[models][training]") {
  for (const char* name : {"lstm_uni_1layer", "lstm_bi_2layer", "gru_bi_2layer", "gru_uni_2layer"}) {
    CheckAgainstPyTorch(test::ModelTestData(std::string(name) + ".safetensors"), 1);
  }
  // Two threads run the directions in parallel.
  CheckAgainstPyTorch(test::ModelTestData("lstm_bi_2layer.safetensors"), 2);
  CheckAgainstPyTorch(test::ModelTestData("gru_bi_2layer.safetensors"), 2);
}

TEST_CASE("the attention head's loss and gradients match PyTorch's", "[models][training]") {
  const std::string path = test::ModelTestData("training_golden.safetensors");
  const SafetensorsFile file = SafetensorsFile::Open(path);
  ModelArchitecture arch{.cell = CellType::kLstm, .input_size = 4, .hidden_size = 3, .num_layers = 1,
                         .bidirectional = true, .num_classes = 3, .head = HeadType::kAttention,
                         .attention_size = 5};
  auto model = AcousticModel::FromTensors(
      arch, [&](const std::string& name, std::vector<int64_t> shape) { return file.ReadFloat("att." + name, shape); },
      path);
  SequenceBatch input;
  input.lengths = file.ReadInt("att.lengths");
  input.max_frames = file.Info("att.input").shape.at(1);
  const std::vector<float> x = file.ReadFloat("att.input");
  input.data = Eigen::Map<const MatrixF>(x.data(), input.BatchSize() * input.max_frames, arch.input_size);
  std::vector<int32_t> labels;
  for (int64_t v : file.ReadInt("att.labels")) labels.push_back(static_cast<int32_t>(v));

  // Inference and the training pass agree with PyTorch's clip log-probabilities.
  CompareTensor("inference clip_log_probs", model->Forward(input).clip_log_probs.reshaped<Eigen::RowMajor>(),
                file.ReadDouble("att.clip_log_probs"), 1e-5);
  TrainingPass pass(*model);
  const ModelOutput& out = pass.Forward(input);
  CompareTensor("clip_log_probs", out.clip_log_probs.reshaped<Eigen::RowMajor>(),
                file.ReadDouble("att.clip_log_probs"), 1e-5);
  MatrixF d_logits;
  const LossResult loss = ClipCrossEntropy(out.clip_log_probs, labels, {}, &d_logits);
  const double want = file.ReadDouble("att.loss").at(0);
  CHECK(std::abs(loss.loss - want) <= 1e-5 * want);
  CHECK(loss.count == 2);
  ModelGradients grads = ModelGradients::ZerosLike(*model);
  MatrixF d_input;
  pass.Backward(d_logits, grads, &d_input);
  for (size_t i = 0; i < grads.names.size(); ++i) {
    CompareTensor(grads.names[i], grads.values[i], file.ReadDouble("att.grad." + grads.names[i]), 1e-4);
  }
  CompareTensor("input", d_input.reshaped<Eigen::RowMajor>(), file.ReadDouble("att.grad.input"), 1e-4);
}

// ---- Finite differences in double precision ------------------------------------------------------------

struct TinyCase {
  const char* name;
  ModelArchitecture arch;
  float dropout = 0;
};

std::vector<TinyCase> TinyCases() {
  auto arch = [](CellType cell, bool bidir, int layers, HeadType head) {
    return ModelArchitecture{.cell = cell, .input_size = 3, .hidden_size = 3, .num_layers = layers,
                             .bidirectional = bidir, .num_classes = 4, .head = head,
                             .attention_size = head == HeadType::kAttention ? 3 : 0};
  };
  return {
      {"lstm uni 1 layer", arch(CellType::kLstm, false, 1, HeadType::kFrame)},
      {"lstm uni 2 layers", arch(CellType::kLstm, false, 2, HeadType::kFrame)},
      {"lstm bi 1 layer", arch(CellType::kLstm, true, 1, HeadType::kFrame)},
      {"lstm bi 2 layers", arch(CellType::kLstm, true, 2, HeadType::kFrame)},
      {"gru uni 1 layer", arch(CellType::kGru, false, 1, HeadType::kFrame)},
      {"gru uni 2 layers", arch(CellType::kGru, false, 2, HeadType::kFrame)},
      {"gru bi 1 layer", arch(CellType::kGru, true, 1, HeadType::kFrame)},
      {"gru bi 2 layers", arch(CellType::kGru, true, 2, HeadType::kFrame)},
      {"lstm bi 2 layers, attention head", arch(CellType::kLstm, true, 2, HeadType::kAttention)},
      {"gru uni 1 layer, attention head", arch(CellType::kGru, false, 1, HeadType::kAttention)},
      {"lstm bi 2 layers, dropout 0.4", arch(CellType::kLstm, true, 2, HeadType::kFrame), 0.4f},
      {"gru uni 2 layers, dropout 0.4", arch(CellType::kGru, false, 2, HeadType::kFrame), 0.4f},
  };
}

std::shared_ptr<AcousticModel> TinyModel(const ModelArchitecture& arch, uint64_t seed) {
  std::vector<std::string> labels;
  for (int c = 0; c < arch.num_classes; ++c) labels.push_back(std::to_string(c));
  return AcousticModel::Initialize(arch, FeatureConfig::KaldiFbank(arch.input_size), labels, seed);
}

// A padded batch: three sequences of 5, 2 and 4 frames in T = 6 (no sequence fills the padding).
template <class Scalar>
BasicSequenceBatch<Scalar> TinyBatch(int dim, uint64_t seed) {
  BasicSequenceBatch<Scalar> batch;
  batch.max_frames = 6;
  batch.lengths = {5, 2, 4};
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  batch.data = BasicMatrix<Scalar>::Zero(3 * 6, dim);
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t t = 0; t < batch.lengths[static_cast<size_t>(b)]; ++t) {
      for (int j = 0; j < dim; ++j) batch.data(b * 6 + t, j) = static_cast<Scalar>(normal(rng));
    }
  }
  return batch;
}

// The loss used for the checks: frame head, cross-entropy (label smoothing, class weights, an ignored
// frame; 9 marks padding) plus CTC (a repeated label, an empty target); attention head, clip cross-entropy.
struct TinyLoss {
  std::vector<int32_t> frame_targets{1, 0, 3, -1, 2, 9, /**/ 3, 3, 9, 9, 9, 9, /**/ 0, 2, 1, 1, 9, 9};
  std::vector<std::vector<int32_t>> ctc_targets{{2, 2, 1}, {3}, {}};
  std::vector<int32_t> clip_labels{1, 3, 0};
  CrossEntropyConfig ce{.ignore_index = -1, .label_smoothing = 0.1f, .class_weights = {0.5f, 1.0f, 2.0f, 1.5f}};

  template <class Scalar>
  double operator()(const BasicModelOutput<Scalar>& out, HeadType head, BasicMatrix<Scalar>* d_logits) const {
    if (head == HeadType::kAttention) return ClipCrossEntropy(out.clip_log_probs, clip_labels, ce, d_logits).loss;
    BasicMatrix<Scalar> d_ctc;
    const double ce_loss = FrameCrossEntropy(out.log_probs, frame_targets, ce, d_logits).loss;
    const double ctc_loss = CtcLoss(out.log_probs, ctc_targets, {}, d_logits ? &d_ctc : nullptr).loss;
    if (d_logits != nullptr) *d_logits += d_ctc;
    return ce_loss + ctc_loss;
  }
};

TEST_CASE("gradients equal central finite differences in double precision", "[models][training]") {
  const TinyLoss loss_of;
  for (const TinyCase& c : TinyCases()) {
    INFO(c.name);
    auto model = TinyModel(c.arch, 7);
    // The float parameters in double: the checks perturb them by far less than a float's resolution.
    std::vector<std::vector<double>> params;
    for (const ConstParameterView& p : model->Parameters()) params.emplace_back(p.values.begin(), p.values.end());
    std::vector<const double*> param_ptrs;
    for (const auto& p : params) param_ptrs.push_back(p.data());
    SequenceBatchD input = TinyBatch<double>(c.arch.input_size, 3);
    // Each loss evaluation reseeds the generator, so a dropout case sees the same masks every time.
    BasicTrainingPass<double> pass(c.arch, {.dropout = c.dropout, .num_threads = 1});
    auto loss = [&](const SequenceBatchD& x, MatrixD* d_logits) {
      std::mt19937_64 rng(99);
      return loss_of(pass.Forward(param_ptrs, x, c.dropout > 0 ? &rng : nullptr), c.arch.head, d_logits);
    };

    MatrixD d_logits, d_input;
    const double base = loss(input, &d_logits);
    REQUIRE(std::isfinite(base));
    std::vector<std::vector<double>> grads;
    std::vector<double*> grad_ptrs;
    for (const auto& p : params) grads.emplace_back(p.size(), 0.0);
    for (auto& g : grads) grad_ptrs.push_back(g.data());
    pass.Backward(d_logits, grad_ptrs, &d_input);

    // Central differences: truncation error ~ eps^2 |f'''| and rounding ~ 1e-16 |f| / eps, both < 1e-9.
    constexpr double kEps = 1e-5, kAbs = 1e-7, kRel = 1e-6;
    double worst = 0;
    auto check = [&](const std::string& what, double& value, double analytic) {
      const double saved = value;
      value = saved + kEps;
      const double up = loss(input, nullptr);
      value = saved - kEps;
      const double down = loss(input, nullptr);
      value = saved;
      const double numeric = (up - down) / (2 * kEps);
      worst = std::max(worst, std::abs(numeric - analytic));
      if (std::abs(numeric - analytic) > kAbs + kRel * std::abs(numeric)) {
        FAIL_CHECK(what << ": finite difference " << numeric << ", backward " << analytic);
      }
    };
    const std::vector<std::string> names = ParameterNames(c.arch);
    for (size_t i = 0; i < params.size(); ++i) {
      for (size_t j = 0; j < params[i].size(); ++j) {
        check(names[i] + "[" + std::to_string(j) + "]", params[i][j], grads[i][j]);
      }
    }
    for (int64_t r = 0; r < input.data.rows(); ++r) {
      const bool valid = r % input.max_frames < input.lengths[static_cast<size_t>(r / input.max_frames)];
      for (int64_t j = 0; j < input.data.cols(); ++j) {
        if (valid) {
          check("input(" + std::to_string(r) + ", " + std::to_string(j) + ")", input.data(r, j), d_input(r, j));
        } else {
          CHECK(d_input(r, j) == 0.0);  // padding does not influence the loss
        }
      }
    }
    WARN(c.name << ": worst |finite difference - backward| " << worst);
  }
}

// ---- Properties of the float pass ----------------------------------------------------------------------

double MaxAbsDiff(const MatrixF& a, const MatrixF& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return a.size() == 0 ? 0.0 : static_cast<double>((a - b).cwiseAbs().maxCoeff());
}

TEST_CASE("the training forward pass equals inference", "[models][training]") {
  for (const TinyCase& c : TinyCases()) {
    INFO(c.name);
    ModelArchitecture arch = c.arch;
    arch.hidden_size = 8;
    auto model = TinyModel(arch, 5);
    const SequenceBatch input = TinyBatch<float>(arch.input_size, 4);
    const ModelOutput want = model->Forward(input);
    TrainingPass pass(*model, {.dropout = c.dropout, .num_threads = 1});
    const ModelOutput& got = pass.Forward(input);  // no generator: no dropout
    CHECK(MaxAbsDiff(got.rnn_output.data, want.rnn_output.data) <= 1e-6);
    CHECK(got.rnn_output.lengths == want.rnn_output.lengths);
    if (arch.head == HeadType::kFrame) {
      CHECK(MaxAbsDiff(got.logits.data, want.logits.data) <= 1e-6);
      CHECK(MaxAbsDiff(got.log_probs.data, want.log_probs.data) <= 1e-6);
    } else {
      CHECK(MaxAbsDiff(got.clip_logits, want.clip_logits) <= 1e-6);
      CHECK(MaxAbsDiff(got.clip_log_probs, want.clip_log_probs) <= 1e-6);
      CHECK(MaxAbsDiff(got.attention_weights, want.attention_weights) <= 1e-6);
    }
  }
}

TEST_CASE("float gradients equal the double pass's on a large ragged batch after a full one", "[models][training]") {
  // 40 sequences of 1 to 20 frames, after a step on full-length ones with the same pass: the float LSTM
  // pass keeps d gates packed for the weight gradients, and the rows of ended sequences must be zero there
  // whatever an earlier batch left. The double pass (checked against finite differences above) is the
  // reference; both get the same float parameters and d_logits.
  ModelArchitecture arch{.cell = CellType::kLstm, .input_size = 4, .hidden_size = 5, .num_layers = 2,
                         .bidirectional = true, .num_classes = 4};
  auto model = TinyModel(arch, 13);
  constexpr int64_t kBatch = 40, kFrames = 20;
  SequenceBatch input;
  input.max_frames = kFrames;
  std::mt19937_64 rng(17);
  std::normal_distribution<float> normal;
  input.data = MatrixF::Zero(kBatch * kFrames, arch.input_size);
  for (int64_t b = 0; b < kBatch; ++b) {
    input.lengths.push_back(1 + (b * 7) % kFrames);
    for (int64_t t = 0; t < input.lengths.back(); ++t) {
      for (int j = 0; j < arch.input_size; ++j) input.data(b * kFrames + t, j) = normal(rng);
    }
  }
  std::vector<int32_t> targets(static_cast<size_t>(kBatch * kFrames));
  for (int32_t& y : targets) y = static_cast<int32_t>(rng() % 4);

  TrainingPass pass(*model);
  MatrixF d_logits;
  {
    // A step on full-length sequences first: the pass's buffers then hold values in every row.
    SequenceBatch full = input;
    full.lengths.assign(kBatch, kFrames);
    full.data.setConstant(0.5f);
    FrameCrossEntropy(pass.Forward(full).log_probs, targets, {}, &d_logits);
    ModelGradients ignored = ModelGradients::ZerosLike(*model);
    pass.Backward(d_logits, ignored);
  }
  FrameCrossEntropy(pass.Forward(input).log_probs, targets, {}, &d_logits);
  ModelGradients grads = ModelGradients::ZerosLike(*model);
  MatrixF d_input;
  pass.Backward(d_logits, grads, &d_input);

  std::vector<std::vector<double>> params;
  for (const ConstParameterView& p : model->Parameters()) params.emplace_back(p.values.begin(), p.values.end());
  std::vector<const double*> param_ptrs;
  for (const auto& p : params) param_ptrs.push_back(p.data());
  SequenceBatchD input_d;
  input_d.max_frames = kFrames;
  input_d.lengths = input.lengths;
  input_d.data = input.data.cast<double>();
  BasicTrainingPass<double> pass_d(arch);
  pass_d.Forward(param_ptrs, input_d);
  std::vector<std::vector<double>> want;
  std::vector<double*> want_ptrs;
  for (const auto& p : params) want.emplace_back(p.size(), 0.0);
  for (auto& g : want) want_ptrs.push_back(g.data());
  MatrixD d_input_d;
  pass_d.Backward(d_logits.cast<double>(), want_ptrs, &d_input_d);
  for (size_t i = 0; i < want.size(); ++i) CompareTensor(grads.names[i], grads.values[i], want[i], 1e-5);
  const MatrixD want_input = d_input_d;
  CompareTensor("input", d_input.reshaped<Eigen::RowMajor>(),
                std::vector<double>(want_input.data(), want_input.data() + want_input.size()), 1e-5);
}

TEST_CASE("two threads give the same gradients as one, Backward accumulates", "[models][training][threads]") {
  for (CellType cell : {CellType::kLstm, CellType::kGru}) {
    ModelArchitecture arch{.cell = cell, .input_size = 5, .hidden_size = 7, .num_layers = 2, .bidirectional = true,
                           .num_classes = 4};
    auto model = TinyModel(arch, 11);
    const SequenceBatch input = TinyBatch<float>(arch.input_size, 12);
    const TinyLoss loss_of;
    ModelGradients one = ModelGradients::ZerosLike(*model), two = one;
    MatrixF d_in_one, d_in_two;
    for (int threads : {1, 2}) {
      TrainingPass pass(*model, {.num_threads = threads});
      MatrixF d_logits;
      loss_of(pass.Forward(input), arch.head, &d_logits);
      pass.Backward(d_logits, threads == 1 ? one : two, threads == 1 ? &d_in_one : &d_in_two);
    }
    for (size_t i = 0; i < one.values.size(); ++i) {
      INFO(one.names[i]);
      CHECK(one.values[i] == two.values[i]);
    }
    CHECK(d_in_one == d_in_two);

    // A second Backward adds the same gradients again (up to float rounding: the products accumulate
    // into what is there).
    TrainingPass pass(*model);
    MatrixF d_logits;
    loss_of(pass.Forward(input), arch.head, &d_logits);
    ModelGradients twice = ModelGradients::ZerosLike(*model);
    pass.Backward(d_logits, twice);
    pass.Backward(d_logits, twice);
    for (size_t i = 0; i < one.values.size(); ++i) {
      INFO(one.names[i]);
      float scale = 0, worst = 0;
      for (size_t j = 0; j < one.values[i].size(); ++j) {
        scale = std::max(scale, std::abs(one.values[i][j]));
        worst = std::max(worst, std::abs(twice.values[i][j] - 2 * one.values[i][j]));
      }
      CHECK(scale > 0);
      CHECK(worst <= 1e-6f * scale);
    }
  }
}

TEST_CASE("dropout between stacked layers: inverted, seeded, only with a generator", "[models][training]") {
  ModelArchitecture arch{.cell = CellType::kLstm, .input_size = 3, .hidden_size = 64, .num_layers = 3,
                         .bidirectional = true, .num_classes = 4};
  auto model = TinyModel(arch, 1);
  const SequenceBatch input = TinyBatch<float>(arch.input_size, 2);
  const ModelOutput plain = model->Forward(input);
  TrainingPass pass(*model, {.dropout = 0.25f});

  const MatrixF no_rng = pass.Forward(input).log_probs.data;
  CHECK(MaxAbsDiff(no_rng, plain.log_probs.data) <= 1e-6);
  CHECK(pass.DropoutMask(1) == nullptr);

  std::mt19937_64 rng(5);
  const MatrixF dropped = pass.Forward(input, &rng).log_probs.data;
  CHECK(MaxAbsDiff(dropped, plain.log_probs.data) > 1e-3);
  for (int layer : {1, 2}) {
    const MatrixF* mask = pass.DropoutMask(layer);
    REQUIRE(mask != nullptr);
    CHECK(mask->cols() == 2 * 64);
    int64_t zeros = 0;
    for (float m : mask->reshaped()) {
      REQUIRE((m == 0.0f || m == 1.0f / 0.75f));
      zeros += m == 0.0f;
    }
    // 5 steps * 3 sequences * 128 values = 1920 draws: the fraction of zeros is 0.25 with a standard
    // deviation of 0.01; 0.05 is five of them.
    const double fraction = static_cast<double>(zeros) / static_cast<double>(mask->size());
    CHECK(std::abs(fraction - 0.25) < 0.05);
  }
  CHECK(pass.DropoutMask(0) == nullptr);
  CHECK(pass.DropoutMask(3) == nullptr);
  CHECK(*pass.DropoutMask(1) != *pass.DropoutMask(2));

  std::mt19937_64 same(5), other(6);
  CHECK(pass.Forward(input, &same).log_probs.data == dropped);
  CHECK(pass.Forward(input, &other).log_probs.data != dropped);

  // One layer: nothing to drop between.
  ModelArchitecture single = arch;
  single.num_layers = 1;
  auto one_layer = TinyModel(single, 1);
  TrainingPass single_pass(*one_layer, {.dropout = 0.5f});
  std::mt19937_64 rng1(5);
  CHECK(MaxAbsDiff(single_pass.Forward(input, &rng1).log_probs.data, one_layer->Forward(input).log_probs.data) <=
        1e-6);
}

TEST_CASE("training pass errors name what is wrong", "[models][training]") {
  ModelArchitecture arch{.cell = CellType::kGru, .input_size = 3, .hidden_size = 4, .num_layers = 1,
                         .bidirectional = false, .num_classes = 4};
  auto model = TinyModel(arch, 1);
  TrainingPass pass(*model);
  ModelGradients grads = ModelGradients::ZerosLike(*model);
  CHECK_THROWS_MATCHES(pass.Backward(MatrixF::Zero(18, 4), grads), Error, HasMessage("Backward without a Forward"));

  SequenceBatch bad = TinyBatch<float>(5, 1);
  CHECK_THROWS_MATCHES(pass.Forward(bad), ConfigError, HasMessage("5 values per frame; the model expects 3"));
  SequenceBatch too_long = TinyBatch<float>(3, 1);
  too_long.lengths[1] = 7;
  CHECK_THROWS_MATCHES(pass.Forward(too_long), ConfigError, HasMessage("sequence 1 has length 7; expected in [0, 6]"));

  const SequenceBatch input = TinyBatch<float>(3, 1);
  pass.Forward(input);
  CHECK_THROWS_MATCHES(pass.Backward(MatrixF::Zero(3, 4), grads), ConfigError,
                       HasMessage("d_logits has shape [3, 4]; expected [18, 4]"));
  ModelArchitecture other_arch = arch;
  other_arch.hidden_size = 5;
  ModelGradients other = ModelGradients::ZerosLike(*TinyModel(other_arch, 1));
  CHECK_THROWS_MATCHES(pass.Backward(MatrixF::Zero(18, 4), other), ConfigError,
                       HasMessage("gradient 'rnn.weight_ih_l0' holds 45 values; the parameter has 36"));

  CHECK_THROWS_MATCHES(TrainingPass(*model, {.dropout = 1.0f}), ConfigError,
                       HasMessage("training_pass.dropout = 1; expected in [0, 1)"));
  CHECK_THROWS_MATCHES(TrainingPass(*model, {.num_threads = 0}), ConfigError,
                       HasMessage("training_pass.num_threads = 0; expected between 1 and 64"));

  ModelArchitecture att = arch;
  att.head = HeadType::kAttention;
  att.attention_size = 2;
  auto att_model = TinyModel(att, 1);
  TrainingPass att_pass(*att_model);
  SequenceBatch empty = TinyBatch<float>(3, 1);
  empty.lengths[2] = 0;
  CHECK_THROWS_MATCHES(att_pass.Forward(empty), ConfigError, HasMessage("sequence 2 has no frames"));
  att_pass.Forward(input);
  ModelGradients att_grads = ModelGradients::ZerosLike(*att_model);
  CHECK_THROWS_MATCHES(att_pass.Backward(MatrixF::Zero(18, 4), att_grads), ConfigError,
                       HasMessage("expected [3, 4] (clips, classes)"));
}

TEST_CASE("a batch of empty sequences has no recurrent gradient", "[models][training]") {
  ModelArchitecture arch{.cell = CellType::kLstm, .input_size = 3, .hidden_size = 4, .num_layers = 2,
                         .bidirectional = true, .num_classes = 4};
  auto model = TinyModel(arch, 1);
  SequenceBatch input;
  input.max_frames = 3;
  input.lengths = {0, 0};
  input.data = MatrixF::Ones(6, 3);
  TrainingPass pass(*model);
  const ModelOutput& out = pass.Forward(input);
  CHECK(out.rnn_output.data.isZero());
  const MatrixF d_logits = MatrixF::Ones(6, 4);  // rows past each length are ignored
  ModelGradients grads = ModelGradients::ZerosLike(*model);
  MatrixF d_input;
  pass.Backward(d_logits, grads, &d_input);
  CHECK(grads.GlobalNorm() == 0.0);
  CHECK(d_input.isZero());
}

}  // namespace
}  // namespace ossicle
