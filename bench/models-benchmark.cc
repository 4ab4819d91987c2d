// Acoustic-model inference throughput (Google Benchmark), the grid of ../shared/bench/torch_blstm.py:
// bidirectional LSTM, F = 40 inputs, C = 32 classes, H in {64, 128, 256}, L in {2, 3},
// (B, T) in {(1, 100), (1, 1000), (16, 100)}, 1 and 2 threads (2: the directions in parallel). Counters:
//   frames_per_s   B * T / wall time of one Forward() (model + output layer + log-softmax)
//   gflops         matmul FLOPs per second, counted as torch_blstm.py counts them: 2 per multiply-add,
//                  4 H (I + H) MACs per frame, layer and direction (I = F, then 2H), plus 2H C for the
//                  output layer; element-wise gate math is not counted.
// Also BM_PeakFma: the core's fp32 FMA peak measured with independent vector FMA chains (the yardstick
// for "fraction of peak").
//   build/release/bench/models-benchmark --benchmark_filter=H128_L2
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "models/acoustic-model.h"

namespace {

using ossicle::AcousticModel;
using ossicle::MatrixF;
using ossicle::ModelArchitecture;
using ossicle::SequenceBatch;

constexpr int kFeatures = 40;
constexpr int kClasses = 32;  // torch_blstm.py --classes default

std::shared_ptr<const AcousticModel> RandomModel(int hidden, int layers) {
  ModelArchitecture arch;
  arch.input_size = kFeatures;
  arch.hidden_size = hidden;
  arch.num_layers = layers;
  arch.bidirectional = true;
  arch.num_classes = kClasses;
  std::mt19937 rng(1);
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
BENCHMARK_MAIN();
