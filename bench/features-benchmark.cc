// Feature throughput, one thread, 16 kHz input: seconds of audio per second of CPU time.
//   build/release/bench/features-benchmark            (or scripts/bench for the side-by-side run)
// Reported counter "audio_s_per_cpu_s" = audio seconds processed / CPU seconds (Google Benchmark divides
// rate counters by CPU time, and this program is single-threaded).
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "features/feature-config.h"
#include "features/frame-extraction.h"
#include "features/online-features.h"
#include "features/rfft.h"

#if OSSICLE_BENCH_FFTW
#include <fftw3.h>
#endif

namespace {

constexpr double kSampleRate = 16000.0;

// The synthetic signal of numpy_logmel.py --speed: two sines plus Gaussian noise, int16 range / 32768.
std::vector<float> Signal(double seconds) {
  std::mt19937 rng(0);
  std::normal_distribution<double> noise(0.0, 500.0);
  std::vector<float> x(static_cast<size_t>(seconds * kSampleRate));
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = static_cast<double>(i) / kSampleRate;
    double v = 3000 * std::sin(2 * M_PI * 440 * t) + 1500 * std::sin(2 * M_PI * 1234.5 * t) + noise(rng);
    v = std::round(std::clamp(v, -32768.0, 32767.0));
    x[i] = static_cast<float>(v / 32768.0);
  }
  return x;
}

void RunFeatures(benchmark::State& state, const ossicle::FeatureConfig& config) {
  const std::vector<float> x = Signal(60.0);
  for (auto _ : state) {
    ossicle::FeatureMatrix m = ossicle::ComputeFeatures(config, x);
    benchmark::DoNotOptimize(m.data.data());
  }
  state.counters["audio_s_per_cpu_s"] =
      benchmark::Counter(60.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_KaldiFbank40(benchmark::State& s) { RunFeatures(s, ossicle::FeatureConfig::KaldiFbank(40)); }
void BM_KaldiFbank80(benchmark::State& s) { RunFeatures(s, ossicle::FeatureConfig::KaldiFbank(80)); }
void BM_LibrosaLogMel40(benchmark::State& s) { RunFeatures(s, ossicle::FeatureConfig::LibrosaLogMel(40)); }
void BM_LibrosaLogMel80(benchmark::State& s) { RunFeatures(s, ossicle::FeatureConfig::LibrosaLogMel(80)); }
void BM_KaldiMfcc13(benchmark::State& s) { RunFeatures(s, ossicle::FeatureConfig::KaldiMfcc(13)); }

// The FFT alone (512-point real, double, Eigen FFT (KissFFT backend)), to see what share of a frame's time it takes.
void BM_RealFft512(benchmark::State& state) {
  ossicle::RealFft fft(512);
  std::vector<double> in(512);
  std::mt19937 rng(1);
  std::normal_distribution<double> d;
  for (double& v : in) v = d(rng);
  std::vector<std::complex<double>> out(257);
  for (auto _ : state) {
    fft.Forward(in, out);
    benchmark::DoNotOptimize(out.data());
  }
}

#if OSSICLE_BENCH_FFTW
// FFTW's 512-point real FFT in double, planned once. Not used by ossicle (GPL); a yardstick for the FFT's
// share. FFTW_ESTIMATE keeps results deterministic; FFTW_MEASURE picks faster plans but may differ between
// runs in the last bits.
void RunFftw(benchmark::State& state, unsigned flags) {
  double* in = fftw_alloc_real(512);
  fftw_complex* out = fftw_alloc_complex(257);
  fftw_plan plan = fftw_plan_dft_r2c_1d(512, in, out, flags);
  std::mt19937 rng(1);
  std::normal_distribution<double> d;
  for (int i = 0; i < 512; ++i) in[i] = d(rng);
  for (auto _ : state) {
    fftw_execute(plan);
    benchmark::DoNotOptimize(out);
  }
  fftw_destroy_plan(plan);
  fftw_free(in);
  fftw_free(out);
}
void BM_FftwEstimate512(benchmark::State& s) { RunFftw(s, FFTW_ESTIMATE); }
void BM_FftwMeasure512(benchmark::State& s) { RunFftw(s, FFTW_MEASURE); }
BENCHMARK(BM_FftwEstimate512);
BENCHMARK(BM_FftwMeasure512);
#endif

}  // namespace

BENCHMARK(BM_KaldiFbank40)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KaldiFbank80)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LibrosaLogMel40)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LibrosaLogMel80)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KaldiMfcc13)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RealFft512);
BENCHMARK_MAIN();
