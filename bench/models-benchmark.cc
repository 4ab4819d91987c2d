// Acoustic-model inference throughput (Google Benchmark), the grid of ../shared/bench/torch_blstm.py:
// bidirectional LSTM, F = 40 inputs, C = 32 classes, H in {64, 128, 256}, L in {2, 3},
// (B, T) in {(1, 100), (1, 1000), (16, 100)}, 1 and 2 threads (2: the directions in parallel). Counters:
//   frames_per_s   B * T / wall time of one Forward() (model + output layer + log-softmax)
//   gflops         matmul FLOPs per second, counted as torch_blstm.py counts them: 2 per multiply-add,
//                  4 H (I + H) MACs per frame, layer and direction (I = F, then 2H), plus 2H C for the
//                  output layer; element-wise gate math is not counted.
// Also BM_PeakFma: the core's fp32 FMA peak measured with independent vector FMA chains (the yardstick
// for "fraction of peak").
// BM_TrainStep: one training step as torch_blstm.py's training benchmark times it: batch 32 x T = 100 random
// frames, zero the gradients, forward, loss ("ce": frame cross-entropy on random labels in [0, C); "ctc":
// CTC on random targets of 20 labels in [1, C), blank 0), backward, Adam step (lr 1e-3). frames_per_s =
// 32 * 100 / step time; threads = the num_threads of the training pass, the loss and Adam (2: directions in
// parallel, the rest in halves).
//   build/release/bench/models-benchmark --benchmark_filter=H128_L2
#include <benchmark/benchmark.h>

#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/acoustic-model.h"
#include "models/float-gemm.h"
#include "models/losses.h"
#include "models/model-ensemble.h"
#include "models/model-gradients.h"
#include "models/optimizers.h"
#include "models/training-pass.h"

namespace {

using ossicle::AcousticModel;
using ossicle::MatrixF;
using ossicle::ModelArchitecture;
using ossicle::SequenceBatch;

constexpr int kFeatures = 40;
constexpr int kClasses = 32;  // torch_blstm.py --classes default

std::shared_ptr<const AcousticModel> RandomModel(int hidden, int layers, unsigned seed = 1) {
  ModelArchitecture arch;
  arch.input_size = kFeatures;
  arch.hidden_size = hidden;
  arch.num_layers = layers;
  arch.bidirectional = true;
  arch.num_classes = kClasses;
  std::mt19937 rng(seed);
  const float k = 1.0f / std::sqrt(static_cast<float>(hidden));  // PyTorch's default init range
  std::uniform_real_distribution<float> u(-k, k);
  return AcousticModel::FromTensors(
      arch,
      [&](const std::string&, std::vector<int64_t> shape) {
        int64_t n = 1;
        for (int64_t s : shape) n *= s;
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = u(rng);
        return v;
      },
      "random");
}

double FlopsPerFrame(int hidden, int layers) {
  double macs = 0;
  for (int l = 0; l < layers; ++l) {
    const int in = l == 0 ? kFeatures : 2 * hidden;
    macs += 2.0 * 4.0 * hidden * (in + hidden);
  }
  macs += 2.0 * hidden * kClasses;
  return 2.0 * macs;
}

void BM_Blstm(benchmark::State& state) {
  const int hidden = static_cast<int>(state.range(0));
  const int layers = static_cast<int>(state.range(1));
  const int batch = static_cast<int>(state.range(2));
  const int frames = static_cast<int>(state.range(3));
  const int threads = static_cast<int>(state.range(4));
  auto model = RandomModel(hidden, layers);
  SequenceBatch x;
  x.max_frames = frames;
  x.lengths.assign(static_cast<size_t>(batch), frames);
  x.data = MatrixF::Random(static_cast<Eigen::Index>(batch) * frames, kFeatures);
  for (auto _ : state) {
    ossicle::ModelOutput y = model->Forward(x, threads);
    benchmark::DoNotOptimize(y.log_probs.data.data());
  }
  const double n = static_cast<double>(state.iterations()) * batch * frames;
  state.counters["frames_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["gflops"] = benchmark::Counter(n * FlopsPerFrame(hidden, layers) * 1e-9, benchmark::Counter::kIsRate);
}

// An ensemble of N BLSTM 2x128 members (N = range 0), B = 1, T = 1000, one thread, run as it runs (the
// members' own stacks, range 1 = 1) or as the merged block-structured matrices of a dense file (range 1 = 0,
// how every ensemble ran before 2026-11-28). frames_per_s as BM_Blstm.
//   build/release/bench/models-benchmark --benchmark_filter=Ensemble --benchmark_repetitions=3
void BM_Ensemble(benchmark::State& state) {
  const int members = static_cast<int>(state.range(0));
  const bool member_stacks = state.range(1) != 0;
  std::shared_ptr<const AcousticModel> model = RandomModel(128, 2, 1);
  if (members > 1) {
    std::vector<ossicle::EnsembleMember> parts;
    for (int m = 0; m < members; ++m) {
      parts.push_back({"member " + std::to_string(m), RandomModel(128, 2, static_cast<unsigned>(m + 1))});
    }
    model = ossicle::EnsembleModels(parts);
  }
  if (!member_stacks) {  // the same tensors without member sizes: the merged stack runs
    const std::vector<ossicle::ConstParameterView> params = model->Parameters();
    model = AcousticModel::FromTensors(
        model->Architecture(),
        [&](const std::string& name, std::vector<int64_t>) {
          for (const auto& p : params) {
            if (p.name == name) return std::vector<float>(p.values.begin(), p.values.end());
          }
          throw std::runtime_error("no tensor " + name);
        },
        "dense");
  }
  SequenceBatch x;
  x.max_frames = 1000;
  x.lengths = {1000};
  x.data = MatrixF::Random(1000, kFeatures);
  for (auto _ : state) {
    ossicle::ModelOutput y = model->Forward(x, 1);
    benchmark::DoNotOptimize(y.log_probs.data.data());
  }
  state.counters["frames_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 1000, benchmark::Counter::kIsRate);
}

// Independent chains of 8-wide fp32 FMAs: two FMA pipes with 4-5 cycles of latency need >= 10 chains.
void BM_PeakFma(benchmark::State& state) {
  typedef float v8 __attribute__((vector_size(32)));
  constexpr int kChains = 12;
  v8 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = v8{} + 1.0f * static_cast<float>(i);
  v8 a = v8{} + 0.999999f, b = v8{} + 1e-7f;
  benchmark::DoNotOptimize(a);
  benchmark::DoNotOptimize(b);
  constexpr int kInner = 1000;
  for (auto _ : state) {
    for (int r = 0; r < kInner; ++r) {
      for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * a + b;
    }
    benchmark::ClobberMemory();
  }
  for (int i = 0; i < kChains; ++i) benchmark::DoNotOptimize(acc[i]);
  const double flops = static_cast<double>(state.iterations()) * kInner * kChains * 8 * 2;
  state.counters["gflops"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsRate);
}

void BM_TrainStep(benchmark::State& state) {
  const int hidden = static_cast<int>(state.range(0));
  const int layers = static_cast<int>(state.range(1));
  const bool ctc = state.range(2) == 1;
  const int threads = static_cast<int>(state.range(3));
  constexpr int kBatch = 32, kFrames = 100, kTargetLength = 20;
  ModelArchitecture arch;
  arch.input_size = kFeatures;
  arch.hidden_size = hidden;
  arch.num_layers = layers;
  arch.bidirectional = true;
  arch.num_classes = kClasses;
  std::vector<std::string> labels;
  for (int c = 0; c < kClasses; ++c) labels.push_back(std::to_string(c));
  auto model = AcousticModel::Initialize(arch, ossicle::FeatureConfig::KaldiFbank(kFeatures), labels, 1);
  SequenceBatch x;
  x.max_frames = kFrames;
  x.lengths.assign(kBatch, kFrames);
  x.data = MatrixF::Random(kBatch * kFrames, kFeatures);
  std::mt19937 rng(2);
  std::vector<int32_t> frame_labels(kBatch * kFrames);
  for (int32_t& y : frame_labels) y = static_cast<int32_t>(rng() % kClasses);
  std::vector<std::vector<int32_t>> targets(kBatch, std::vector<int32_t>(kTargetLength));
  for (auto& t : targets) {
    for (int32_t& y : t) y = 1 + static_cast<int32_t>(rng() % (kClasses - 1));
  }
  ossicle::TrainingPass pass(*model, ossicle::TrainingPassConfig{0.0f, threads});
  auto grads = ossicle::ModelGradients::ZerosLike(*model);
  std::vector<std::string> names;
  std::vector<int64_t> sizes;
  std::vector<std::span<float>> params;
  for (const auto& v : model->MutableParameters()) {
    names.push_back(v.name);
    sizes.push_back(static_cast<int64_t>(v.values.size()));
    params.push_back(v.values);
  }
  std::vector<std::span<const float>> g;
  for (const auto& v : grads.values) g.emplace_back(v);
  ossicle::Optimizer adam(ossicle::OptimizerConfig{}, names, sizes, threads);
  MatrixF d_logits;
  // One step; run twice untimed first, as torch_blstm.py's --train-warmup 2 does (the first step of a new
  // pass touches its buffers for the first time: page faults that a training run pays once).
  const auto step = [&] {
    grads.SetZero();
    const ossicle::ModelOutput& y = pass.Forward(x);
    const ossicle::LossResult loss =
        ctc ? ossicle::CtcLoss(y.log_probs, targets, ossicle::CtcConfig{0, true}, &d_logits, threads)
            : ossicle::FrameCrossEntropy(y.log_probs, frame_labels, {}, &d_logits, threads);
    // PyTorch's reduction="mean": CE over frames; CTC per sequence divided by its target length, over the batch.
    d_logits *= static_cast<float>(ctc ? 1.0 / (kBatch * kTargetLength) : 1.0 / loss.total_weight);
    pass.Backward(d_logits, grads);
    adam.Step(params, g, 1e-3);
    model->ParametersChanged();
    benchmark::DoNotOptimize(loss.loss);
  };
  for (int warmup = 0; warmup < 2; ++warmup) step();
  for (auto _ : state) step();
  const double n = static_cast<double>(state.iterations()) * kBatch * kFrames;
  state.counters["frames_per_s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["gflops_3x_fwd"] =
      benchmark::Counter(3.0 * n * FlopsPerFrame(hidden, layers) * 1e-9, benchmark::Counter::kIsRate);
}

void TrainGrid(benchmark::internal::Benchmark* b) {
  for (int h : {64, 128, 256}) {
    for (int l : {2, 3}) {
      for (int loss : {0, 1}) {
        for (int threads : {1, 2}) b->Args({h, l, loss, threads});
      }
    }
  }
  b->ArgNames({"H", "L", "ctc", "threads"});
}

// The weight-gradient product of one direction of the H = 128 training step: W [512, nj] += G^T X over the
// 3200 frames (G = d gates [3200, 512]; X = the layer input, nj = 40 or 256, or H_prev, nj = 128).
//   build/release/bench/models-benchmark --benchmark_filter=WeightGradient
void BM_WeightGradient(benchmark::State& state) {
  const int64_t k = 3200, ni = 512, nj = state.range(0);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> g(static_cast<size_t>(k * ni)), x(static_cast<size_t>(k * nj)), w(static_cast<size_t>(ni * nj));
  for (float& v : g) v = u(rng);
  for (float& v : x) v = u(rng);
  std::vector<float> scratch;
  for (auto _ : state) {
    ossicle::gemm::AddTransposedProduct(k, ni, nj, g.data(), ni, x.data(), nj, w.data(), nj, scratch);
    benchmark::DoNotOptimize(w.data());
  }
  state.counters["gflops"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 2.0 * static_cast<double>(k * ni * nj) * 1e-9,
                         benchmark::Counter::kIsRate);
}

void Grid(benchmark::internal::Benchmark* b) {
  for (int h : {64, 128, 256}) {
    for (int l : {2, 3}) {
      for (int threads : {1, 2}) {
        b->Args({h, l, 1, 100, threads});
        b->Args({h, l, 1, 1000, threads});
        b->Args({h, l, 16, 100, threads});
      }
    }
  }
  b->ArgNames({"H", "L", "B", "T", "threads"});
}

}  // namespace

BENCHMARK(BM_PeakFma);
BENCHMARK(BM_Blstm)->Apply(Grid)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Ensemble)
    ->ArgsProduct({{1, 2, 4}, {0, 1}})
    ->ArgNames({"members", "member_stacks"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_TrainStep)->Apply(TrainGrid)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_WeightGradient)->Arg(40)->Arg(128)->Arg(256)->ArgName("nj")->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
