// Cutting a waveform into overlapping frames and preparing each frame for the FFT.
//
// Sample times are absolute int64_t indices since the last reset. Frame t covers the samples
// [FrameStart(t), FrameStart(t) + WindowSamples()); indices outside [0, N) are filled by the padding
// rule. All processing of one frame depends only on the samples it covers (and, for dither, on the frame
// index and seed), which is what lets the streaming extractor match the whole-file result exactly.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "features/window.h"

namespace ossicle {

// Where frames sit and how samples outside the signal are filled.
enum class FramePadding {
  kSnipEdges,      // Kaldi snip_edges=true: frame t starts at t*shift; only whole frames,
                   // 1 + (N - win) / shift frames (0 if N < win).
  kKaldiReflect,   // Kaldi snip_edges=false: frame t is centred on t*shift + shift/2,
                   // (N + shift/2) / shift frames, edges mirrored (s<0 -> -s-1, s>=N -> 2N-1-s).
  kCenterZero,     // librosa >= 0.10 center=True: frame t centred on t*shift (window starts at
                   // t*shift - ceil(win/2)), 1 + N/shift frames, samples outside the signal are 0.
  kCenterReflect,  // librosa < 0.10 / torchaudio center=True, pad_mode="reflect": as kCenterZero but
                   // edges mirrored without repeating the edge sample (s<0 -> -s, s>=N -> 2N-2-s).
};

template <>
struct EnumNames<FramePadding> {
  static constexpr std::array kValues{
      std::pair{FramePadding::kSnipEdges, std::string_view{"snip_edges"}},
      std::pair{FramePadding::kKaldiReflect, std::string_view{"kaldi_reflect"}},
      std::pair{FramePadding::kCenterZero, std::string_view{"center_zero"}},
      std::pair{FramePadding::kCenterReflect, std::string_view{"center_reflect"}},
  };
};

struct FrameConfig {
  double sample_rate_hz = 16000.0;
  double frame_length_ms = 25.0;
  double frame_shift_ms = 10.0;
  FramePadding padding = FramePadding::kSnipEdges;
  double sample_scale = 32768.0;  // input samples in [-1, 1) are multiplied by this (32768: Kaldi's
                                  // int16 value range; 1: librosa/torchaudio)
  double dither = 0.0;            // std. deviation of Gaussian noise added per sample, after scaling
  uint64_t dither_seed = 0;       // the noise of frame t depends only on (seed, t)
  bool remove_dc_offset = true;
  double preemphasis_coefficient = 0.97;  // 0 disables; y[n] = x[n] - c x[n-1], y[0] = x[0] - c x[0]
  WindowType window = WindowType::kPovey;
  bool periodic_window = false;   // false: period length-1 (Kaldi); true: period length (librosa)
  int fft_size = 0;               // 0: the window length rounded up to a power of two

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"sample_rate_hz", "Hz", "sample rate the features are computed at"}, self.sample_rate_hz);
    v(FieldInfo{"frame_length_ms", "ms", "analysis window length"}, self.frame_length_ms);
    v(FieldInfo{"frame_shift_ms", "ms", "hop between frame starts"}, self.frame_shift_ms);
    v(FieldInfo{"padding", "", "frame placement and edge padding"}, self.padding);
    v(FieldInfo{"sample_scale", "", "factor applied to samples in [-1, 1) before anything else"},
      self.sample_scale);
    v(FieldInfo{"dither", "", "std. deviation of Gaussian dither (0 = off), in scaled sample units"},
      self.dither);
    v(FieldInfo{"dither_seed", "", "seed of the dither noise"}, self.dither_seed);
    v(FieldInfo{"remove_dc_offset", "", "subtract each frame's mean"}, self.remove_dc_offset);
    v(FieldInfo{"preemphasis_coefficient", "", "pre-emphasis per frame (0 = off)"},
      self.preemphasis_coefficient);
    v(FieldInfo{"window", "", "analysis window"}, self.window);
    v(FieldInfo{"periodic_window", "", "periodic (true) or symmetric (false) window"},
      self.periodic_window);
    v(FieldInfo{"fft_size", "samples", "FFT length (0 = window length rounded up to a power of two)"},
      self.fft_size);
  }

  // Window and hop in samples: int(rate * ms / 1000) as Kaldi does.
  int WindowSamples() const;
  int ShiftSamples() const;
  int FftSize() const;  // fft_size, or the window rounded up to a power of two

  void Validate(std::string_view path = "frame") const;
};

// Frame geometry for a signal of num_samples samples.
int64_t NumFrames(const FrameConfig& config, int64_t num_samples);
// First sample of frame t (may be negative for the centred paddings).
int64_t FrameStart(const FrameConfig& config, int64_t t);

// Turns the raw samples of one frame into the windowed, zero-padded FFT input. Owns the window and
// scratch; one per stream.
class FramePreprocessor {
 public:
  explicit FramePreprocessor(const FrameConfig& config);

  // raw: WindowSamples() samples of frame `frame_index` (already padded), unscaled.
  // out: FftSize() values (window applied, zero padding at the end).
  void Process(std::span<const float> raw, int64_t frame_index, std::span<double> out);

 private:
  FrameConfig config_;
  std::vector<double> window_;
  std::vector<double> scratch_;
};

}  // namespace ossicle
