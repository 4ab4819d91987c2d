#include "pipeline/resample.h"

#include <soxr.h>

#include <cmath>
#include <string>

#include "features/errors.h"

namespace ossicle {

std::vector<float> ResampleAudio(std::span<const float> samples, double in_rate_hz, double out_rate_hz) {
  if (!(in_rate_hz > 0) || !(out_rate_hz > 0) || !std::isfinite(in_rate_hz) || !std::isfinite(out_rate_hz)) {
    throw AudioError("resample: rates must be finite and > 0 (got " + std::to_string(in_rate_hz) + " -> " +
                     std::to_string(out_rate_hz) + " Hz)");
  }
  if (in_rate_hz == out_rate_hz) return {samples.begin(), samples.end()};
  const double n_out = std::round(static_cast<double>(samples.size()) * out_rate_hz / in_rate_hz);
  const auto wanted = static_cast<size_t>(n_out);
  if (samples.empty() || wanted == 0) return std::vector<float>(wanted, 0.0f);
  // Room for soxr's count plus slack; the result is then cut or padded to exactly `wanted`.
  std::vector<float> out(wanted + 64, 0.0f);
  size_t produced = 0;
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  const soxr_error_t error = soxr_oneshot(in_rate_hz, out_rate_hz, 1, samples.data(), samples.size(), nullptr,
                                          out.data(), out.size(), &produced, &io, &quality, nullptr);
  if (error) throw AudioError(std::string("resample: soxr failed: ") + error);
  out.resize(wanted);  // drops the slack, or zero-pads if soxr delivered fewer
  return out;
}

}  // namespace ossicle
