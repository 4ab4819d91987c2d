#include "pipeline/microphone-source.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <thread>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"  // kMaxAudioSampleRateHz
#include "pipeline/text-helpers.h"

#if OSSICLE_HAVE_PORTAUDIO
#include <fcntl.h>
#include <portaudio.h>
#include <soxr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "pipeline/ring-buffer.h"
#include "pipeline/soxr-handle.h"
#if OSSICLE_HAVE_ALSA
#include <alsa/asoundlib.h>
#endif
// Under AddressSanitizer: the audio libraries PortAudio probes (ALSA plugins, JACK) keep allocations that
// LeakSanitizer reports at exit, from modules they have unloaded. They are not ossicle's; the calls into
// PortAudio run with leak detection paused (__lsan_disable is per thread).
#if defined(__SANITIZE_ADDRESS__)
#define OSSICLE_PAUSE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OSSICLE_PAUSE_LSAN 1
#endif
#endif
#if OSSICLE_PAUSE_LSAN
#include <sanitizer/lsan_interface.h>
#endif
#endif

namespace ossicle {

// ---------------------------------------------------------------------------------------------------------
// Configuration and device selection (no PortAudio needed).

void MicrophoneConfig::Validate(std::string_view path) const {
  const double max_rate = kMaxAudioSampleRateHz;
  if (!(sample_rate_hz >= 1.0 && sample_rate_hz <= max_rate)) {
    throw ConfigError(RuleMessage(path, "sample_rate_hz", sample_rate_hz, fmt::format("in [1, {}]", max_rate)));
  }
  if (!(device_rate_hz == 0.0 || (device_rate_hz >= 1.0 && device_rate_hz <= max_rate))) {
    throw ConfigError(RuleMessage(path, "device_rate_hz", device_rate_hz,
                                  fmt::format("0 (negotiate) or in [1, {}]", max_rate)));
  }
  if (!(block_ms >= 1.0 && block_ms <= 1000.0)) {
    throw ConfigError(RuleMessage(path, "block_ms", block_ms, "in [1, 1000]"));
  }
  if (!(ring_ms >= 10.0 && ring_ms <= 600000.0)) {
    throw ConfigError(RuleMessage(path, "ring_ms", ring_ms, "in [10, 600000]"));
  }
  // The consumer waits for one block and the device may deliver a few at once: fewer than 4 blocks of
  // room would drop audio on every scheduling hiccup.
  if (ring_ms < 4.0 * block_ms) {
    throw ConfigError(RuleMessage(path, "ring_ms", ring_ms,
                                  fmt::format(">= 4 x block_ms = {:g}", 4.0 * block_ms)));
  }
  if (!(latency_ms >= 0.0 && latency_ms <= 10000.0)) {
    throw ConfigError(RuleMessage(path, "latency_ms", latency_ms, "in [0, 10000]"));
  }
  if (!(std::isfinite(max_duration_s) && max_duration_s >= 0.0)) {
    throw ConfigError(RuleMessage(path, "max_duration_s", max_duration_s, "finite and >= 0 (0: no limit)"));
  }
  if (!(stall_timeout_s > 0.0 && stall_timeout_s <= 3600.0)) {
    throw ConfigError(RuleMessage(path, "stall_timeout_s", stall_timeout_s, "in (0, 3600]"));
  }
}

namespace {

bool AllDigits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

[[noreturn]] void FailWithList(const std::vector<CaptureDevice>& devices, const std::string& what) {
  if (devices.empty()) throw DeviceError(what + ". There are no capture devices.");
  throw DeviceError(what + ". Capture devices:\n" + DescribeCaptureDevices(devices));
}

}  // namespace

std::string DescribeCaptureDevices(const std::vector<CaptureDevice>& devices) {
  std::string out;
  for (const CaptureDevice& d : devices) {
    out += fmt::format("  {} {}  {}  ({}, {} ch, {:g} Hz)\n", d.is_default ? '*' : ' ', d.index, d.name,
                       d.host_api, d.max_input_channels, d.default_sample_rate_hz);
  }
  return out;
}

const CaptureDevice& SelectCaptureDevice(const std::vector<CaptureDevice>& devices, std::string_view spec) {
  if (spec.empty()) {
    for (const CaptureDevice& d : devices) {
      if (d.is_default) return d;
    }
    if (devices.empty()) throw DeviceError("there are no capture devices");
    FailWithList(devices, "there is no default capture device; choose one with --device");
  }
  if (AllDigits(spec)) {
    // Bounded before conversion: more than 9 digits cannot be an index.
    const long index = spec.size() > 9 ? -1 : std::stol(std::string(spec));
    for (const CaptureDevice& d : devices) {
      if (d.index == index) return d;
    }
    FailWithList(devices, fmt::format("audio device {} is not a capture device", spec));
  }
  const std::string needle = Lower(spec);
  std::vector<const CaptureDevice*> matches;
  for (const CaptureDevice& d : devices) {
    const std::string name = Lower(d.name);
    if (name == needle) return d;  // an exact name wins over longer names that contain it
    if (name.find(needle) != std::string::npos) matches.push_back(&d);
  }
  if (matches.size() == 1) return *matches.front();
  if (matches.empty()) FailWithList(devices, fmt::format("no audio device matches '{}'", spec));
  std::string names;
  for (const CaptureDevice* d : matches) names += fmt::format("{}'{}'", names.empty() ? "" : ", ", d->name);
  FailWithList(devices, fmt::format("audio device '{}' matches {} capture devices: {}; give more of the name "
                                    "or an index",
                                    spec, matches.size(), names));
}

#if OSSICLE_HAVE_PORTAUDIO

// ---------------------------------------------------------------------------------------------------------
// PortAudio, quietly.

namespace {

bool AudioDebug() {
  const char* v = std::getenv("OSSICLE_AUDIO_DEBUG");
  return v != nullptr && v[0] != '\0' && std::string_view(v) != "0";
}

#if OSSICLE_HAVE_ALSA
// alsa-lib reports every failed probe through this handler; the default prints to stderr.
extern "C" void SilentAlsaErrorHandler(const char*, int, const char*, int, const char*, ...) {}
#endif

// Points fd 2 at a temporary file for its lifetime, so the libraries PortAudio probes cannot spray the
// terminal; Text() returns what they printed (for an error message). Does nothing with OSSICLE_AUDIO_DEBUG.
// Other threads' stderr output is captured too while it is alive, so it only wraps short calls. It wraps
// every call into PortAudio, so it also pauses LeakSanitizer (see OSSICLE_PAUSE_LSAN).
class QuietStderr {
 public:
  QuietStderr() {
#if OSSICLE_PAUSE_LSAN
    __lsan_disable();
#endif
    if (AudioDebug()) return;
    std::fflush(stderr);
    capture_ = std::tmpfile();
    if (capture_ == nullptr) return;  // no temporary file: stay noisy rather than fail
    saved_fd_ = dup(STDERR_FILENO);
    if (saved_fd_ < 0 || dup2(fileno(capture_), STDERR_FILENO) < 0) {
      if (saved_fd_ >= 0) close(saved_fd_);
      saved_fd_ = -1;
    }
  }
  ~QuietStderr() {
    Restore();
#if OSSICLE_PAUSE_LSAN
    __lsan_enable();
#endif
  }
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;

  // Restores fd 2 and returns the last lines printed meanwhile (at most ~2 KB).
  std::string Text() {
    Restore();
    return text_;
  }

 private:
  void Restore() {
    if (saved_fd_ >= 0) {
      std::fflush(stderr);
      dup2(saved_fd_, STDERR_FILENO);
      close(saved_fd_);
      saved_fd_ = -1;
    }
    if (capture_ != nullptr) {
      constexpr long kKeep = 2048;
      std::fseek(capture_, 0, SEEK_END);
      const long size = std::ftell(capture_);
      std::fseek(capture_, std::max(0L, size - kKeep), SEEK_SET);
      char buf[kKeep];
      const size_t n = std::fread(buf, 1, sizeof buf, capture_);
      text_.assign(buf, n);
      while (!text_.empty() && (text_.back() == '\n' || text_.back() == ' ')) text_.pop_back();
      std::fclose(capture_);
      capture_ = nullptr;
    }
  }

  std::FILE* capture_ = nullptr;
  int saved_fd_ = -1;
  std::string text_;
};

std::string PaErrorText(PaError error) {
  std::string text = Pa_GetErrorText(error);
  if (error == paUnanticipatedHostError) {
    const PaHostErrorInfo* host = Pa_GetLastHostErrorInfo();
    if (host != nullptr && host->errorText != nullptr && host->errorText[0] != '\0') {
      text += fmt::format(" ({})", host->errorText);
    }
  }
  return text;
}

std::string WithLibraryOutput(std::string message, const std::string& printed) {
  if (!printed.empty()) message += "; the audio libraries said:\n" + printed;
  return message;
}

// Pa_Initialize / Pa_Terminate as a scope (PortAudio counts nested initialisations).
class PortAudioSession {
 public:
  PortAudioSession() {
    if (!AudioDebug()) {
      setenv("JACK_NO_START_SERVER", "1", /*overwrite=*/0);  // never spawn jackd just to list devices
#if OSSICLE_HAVE_ALSA
      snd_lib_error_set_handler(SilentAlsaErrorHandler);
#endif
    }
    QuietStderr quiet;
    const PaError error = Pa_Initialize();
    if (error != paNoError) {
      throw DeviceError(
          WithLibraryOutput(fmt::format("cannot initialise PortAudio: {}", PaErrorText(error)), quiet.Text()));
    }
  }
  ~PortAudioSession() {
    QuietStderr quiet;
    Pa_Terminate();
  }
  PortAudioSession(const PortAudioSession&) = delete;
  PortAudioSession& operator=(const PortAudioSession&) = delete;
};

std::vector<CaptureDevice> EnumerateCaptureDevices() {
  std::vector<CaptureDevice> devices;
  const PaDeviceIndex count = Pa_GetDeviceCount();
  if (count < 0) throw DeviceError(fmt::format("cannot list audio devices: {}", PaErrorText(count)));
  const PaDeviceIndex default_input = Pa_GetDefaultInputDevice();
  for (PaDeviceIndex i = 0; i < count; ++i) {
    const PaDeviceInfo* info = Pa_GetDeviceInfo(i);
    if (info == nullptr || info->maxInputChannels <= 0) continue;
    CaptureDevice d;
    d.index = i;
    d.name = info->name != nullptr ? info->name : "";
    const PaHostApiInfo* api = Pa_GetHostApiInfo(info->hostApi);
    d.host_api = api != nullptr && api->name != nullptr ? api->name : "?";
    d.max_input_channels = info->maxInputChannels;
    d.default_sample_rate_hz = info->defaultSampleRate;
    d.default_low_latency_ms = info->defaultLowInputLatency * 1000.0;
    d.is_default = i == default_input;
    devices.push_back(std::move(d));
  }
  return devices;
}

// Shared with the PortAudio callback thread; written there only through lock-free atomics and the ring.
struct CallbackState {
  explicit CallbackState(size_t ring_values) : ring(ring_values) {}
  SpscRing<float> ring;
  size_t channels = 1;
  std::atomic<int64_t> frames_captured{0};
  std::atomic<int64_t> frames_dropped{0};
  std::atomic<int64_t> overruns{0};
  std::atomic<int64_t> device_overflows{0};
};

// The real-time callback: copy, count, return. No allocation, lock, log or exception.
extern "C" int CaptureCallback(const void* input, void* /*output*/, unsigned long frames,
                               const PaStreamCallbackTimeInfo* /*time*/, PaStreamCallbackFlags flags,
                               void* user) {
  auto* state = static_cast<CallbackState*>(user);
  if ((flags & paInputOverflow) != 0) state->device_overflows.fetch_add(1, std::memory_order_relaxed);
  state->frames_captured.fetch_add(static_cast<int64_t>(frames), std::memory_order_relaxed);
  if (input == nullptr) return paContinue;  // PortAudio passes no input only for output streams
  const size_t values = static_cast<size_t>(frames) * state->channels;
  const size_t written = state->ring.Write({static_cast<const float*>(input), values});
  if (written < values) {
    state->overruns.fetch_add(1, std::memory_order_relaxed);
    state->frames_dropped.fetch_add(static_cast<int64_t>((values - written) / state->channels),
                                    std::memory_order_relaxed);
  }
  return paContinue;
}

}  // namespace

std::vector<CaptureDevice> ListCaptureDevices() {
  PortAudioSession session;
  return EnumerateCaptureDevices();
}

struct MicrophoneSource::Impl {
  MicrophoneConfig config;
  PortAudioSession session;  // first member with a destructor that matters: released last
  CaptureDevice device;
  double device_rate_hz = 0.0;
  int channels = 1;
  int64_t frames_per_block = 0;
  std::unique_ptr<CallbackState> state;
  PaStream* stream = nullptr;
  SoxrPtr resampler;

  std::vector<float> interleaved;  // one ring's worth, read in one go
  std::vector<float> mono;
  std::vector<float> resampled;

  bool started = false;
  bool stopped = false;
  bool flushed = false;        // the resampler's tail has been delivered
  bool limit_reached = false;  // max_duration_s of audio has been delivered
  bool finished = false;       // Read() returned false or threw: it keeps returning false
  int64_t frames_read = 0;         // device frames taken out of the ring
  int64_t samples_delivered = 0;   // at the output rate
  int64_t sample_limit = 0;        // from max_duration_s; 0 = none
  int64_t last_captured = 0;       // frames_captured at the last progress
  std::chrono::steady_clock::time_point last_progress;

  ~Impl() {
    if (stream != nullptr) {
      QuietStderr quiet;
      if (started && !stopped) Pa_AbortStream(stream);
      Pa_CloseStream(stream);
    }
  }

  std::string DeviceLabel() const { return fmt::format("audio device {} '{}'", device.index, device.name); }

  bool Supported(int ch, double rate) const {
    PaStreamParameters p{};
    p.device = device.index;
    p.channelCount = ch;
    p.sampleFormat = paFloat32;
    p.suggestedLatency = Pa_GetDeviceInfo(device.index)->defaultLowInputLatency;
    return Pa_IsFormatSupported(&p, nullptr, rate) == paFormatIsSupported;
  }

  void Negotiate() {
    std::vector<double> rates;
    if (config.device_rate_hz > 0.0) {
      rates.push_back(config.device_rate_hz);
    } else {
      for (double r : {config.sample_rate_hz, device.default_sample_rate_hz, 48000.0, 44100.0, 32000.0,
                       22050.0, 16000.0, 11025.0, 8000.0}) {
        if (r > 0.0 && std::find(rates.begin(), rates.end(), r) == rates.end()) rates.push_back(r);
      }
    }
    std::vector<int> channel_options{1};
    if (device.max_input_channels >= 2) channel_options.push_back(2);
    QuietStderr quiet;  // ALSA prints a line for every refused configuration
    for (double rate : rates) {
      for (int ch : channel_options) {
        if (Supported(ch, rate)) {
          device_rate_hz = rate;
          channels = ch;
          return;
        }
      }
    }
    std::string tried;
    for (double r : rates) tried += fmt::format("{}{:g}", tried.empty() ? "" : ", ", r);
    throw DeviceError(WithLibraryOutput(
        fmt::format("{}: supports none of the sample rates {} Hz with {} channel{}", DeviceLabel(), tried,
                    channel_options.size() == 1 ? "1" : "1 or 2", channel_options.size() == 1 ? "" : "s"),
        quiet.Text()));
  }

  void Open() {
    frames_per_block = std::max<int64_t>(1, std::llround(config.block_ms * device_rate_hz / 1000.0));
    // Ring in whole frames: every partial write then holds whole frames (pipeline/ring-buffer.h).
    const int64_t ring_frames =
        std::max<int64_t>(4 * frames_per_block, std::llround(config.ring_ms * device_rate_hz / 1000.0));
    const size_t ring_values = static_cast<size_t>(ring_frames) * static_cast<size_t>(channels);
    state = std::make_unique<CallbackState>(ring_values);
    state->channels = static_cast<size_t>(channels);
    interleaved.resize(ring_values);
    mono.resize(static_cast<size_t>(ring_frames));

    if (device_rate_hz != config.sample_rate_hz) {
      soxr_error_t error = nullptr;
      const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
      const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
      resampler.reset(soxr_create(device_rate_hz, config.sample_rate_hz, 1, &error, &io, &quality, nullptr));
      if (error != nullptr || !resampler) {
        throw DeviceError(fmt::format("{}: cannot create a resampler from {:g} Hz to {:g} Hz: {}", DeviceLabel(),
                                      device_rate_hz, config.sample_rate_hz,
                                      error != nullptr ? error : "unknown error"));
      }
      const double ratio = config.sample_rate_hz / device_rate_hz;
      resampled.resize(static_cast<size_t>(std::ceil(static_cast<double>(ring_frames) * ratio)) + 1024);
    }
    if (config.max_duration_s > 0.0) {
      sample_limit = std::max<int64_t>(1, std::llround(config.max_duration_s * config.sample_rate_hz));
    }

    PaStreamParameters p{};
    p.device = device.index;
    p.channelCount = channels;
    p.sampleFormat = paFloat32;
    p.suggestedLatency = config.latency_ms > 0.0 ? config.latency_ms / 1000.0
                                                 : Pa_GetDeviceInfo(device.index)->defaultLowInputLatency;
    QuietStderr quiet;
    const PaError error =
        Pa_OpenStream(&stream, &p, nullptr, device_rate_hz, static_cast<unsigned long>(frames_per_block),
                      paClipOff | paDitherOff, CaptureCallback, state.get());
    if (error != paNoError) {
      stream = nullptr;
      throw DeviceError(WithLibraryOutput(fmt::format("{}: cannot open for capture at {:g} Hz, {} channel(s): {}",
                                                      DeviceLabel(), device_rate_hz, channels, PaErrorText(error)),
                                          quiet.Text()));
    }
  }

  // Device frames -> mono (channels averaged in double, rounded once, as the file reader does).
  void Downmix(size_t frames) {
    if (channels == 1) {
      std::copy_n(interleaved.begin(), frames, mono.begin());
      return;
    }
    const size_t ch = static_cast<size_t>(channels);
    for (size_t i = 0; i < frames; ++i) {
      double sum = 0.0;
      for (size_t c = 0; c < ch; ++c) sum += interleaved[i * ch + c];
      mono[i] = static_cast<float>(sum / static_cast<double>(ch));
    }
  }

  void CheckSoxr(soxr_error_t error) const {
    if (error != nullptr) throw DeviceError(fmt::format("{}: resampler failed: {}", DeviceLabel(), error));
  }

  void Resample(size_t n, std::vector<float>& out) {
    size_t pos = 0;
    while (pos < n) {
      size_t consumed = 0;
      size_t produced = 0;
      CheckSoxr(soxr_process(resampler.get(), mono.data() + pos, n - pos, &consumed, resampled.data(),
                             resampled.size(), &produced));
      out.insert(out.end(), resampled.begin(), resampled.begin() + static_cast<std::ptrdiff_t>(produced));
      pos += consumed;
      if (consumed == 0 && produced == 0) {
        throw DeviceError(fmt::format("{}: resampler made no progress", DeviceLabel()));
      }
    }
  }

  // After Stop(): soxr's tail, so the total is llround(frames_read x out / in) as for a file.
  void Flush(std::vector<float>& out) {
    const size_t before = out.size();
    for (;;) {
      size_t produced = 0;
      CheckSoxr(
          soxr_process(resampler.get(), nullptr, 0, nullptr, resampled.data(), resampled.size(), &produced));
      if (produced == 0) break;
      out.insert(out.end(), resampled.begin(), resampled.begin() + static_cast<std::ptrdiff_t>(produced));
    }
    const long double exact = static_cast<long double>(frames_read) * config.sample_rate_hz / device_rate_hz;
    const int64_t target = std::llround(exact);
    const int64_t total = samples_delivered + static_cast<int64_t>(out.size());
    const int64_t tail = static_cast<int64_t>(out.size() - before);
    const int64_t adjusted_tail = std::max<int64_t>(tail + (target - total), 0);
    out.resize(before + static_cast<size_t>(adjusted_tail), 0.0f);
  }

  void StopStream() {
    if (stopped) return;
    stopped = true;
    if (started && stream != nullptr) {
      QuietStderr quiet;
      Pa_StopStream(stream);
    }
  }

  // Waits (polling; the callback must not signal) until a block is ready, the stream stopped, or timeout.
  void Wait(std::chrono::milliseconds max_wait) {
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + max_wait;
    const size_t block_values = static_cast<size_t>(frames_per_block) * static_cast<size_t>(channels);
    // Half a block, within [1, 10] ms: at most half a block of added delay, at most a few hundred wake-ups
    // a second.
    const auto poll = std::chrono::microseconds(
        std::clamp<int64_t>(std::llround(config.block_ms * 500.0), 1000, 10000));
    while (!stopped && state->ring.Size() < block_values) {
      CheckAlive();
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(poll, deadline - now));
    }
  }

  // A stream that ended by itself, or a device that went silent (unplugged, suspended): DeviceError.
  void CheckAlive() {
    const auto now = std::chrono::steady_clock::now();
    const int64_t captured = state->frames_captured.load(std::memory_order_relaxed);
    if (captured != last_captured) {
      last_captured = captured;
      last_progress = now;
    }
    const PaError active = Pa_IsStreamActive(stream);
    if (active != 1) {
      throw DeviceError(fmt::format("{}: the capture stream stopped by itself ({})", DeviceLabel(),
                                    active < 0 ? PaErrorText(active) : "the device may have been removed"));
    }
    const double silent_s = std::chrono::duration<double>(now - last_progress).count();
    if (silent_s > config.stall_timeout_s) {
      throw DeviceError(fmt::format("{}: no audio for {:.1f} s (microphone.stall_timeout_s = {:g}); the device "
                                    "stopped delivering samples",
                                    DeviceLabel(), silent_s, config.stall_timeout_s));
    }
  }

  bool ReadImpl(std::vector<float>& out, std::chrono::milliseconds max_wait) {
    if (!started) throw DeviceError(fmt::format("{}: Read() before Start()", DeviceLabel()));
    if (limit_reached) return false;
    if (!stopped) Wait(max_wait);
    const size_t got = state->ring.Read(interleaved);
    const size_t frames = got / static_cast<size_t>(channels);
    frames_read += static_cast<int64_t>(frames);
    if (frames > 0) {
      Downmix(frames);
      if (resampler) {
        Resample(frames, out);
      } else {
        out.assign(mono.begin(), mono.begin() + static_cast<std::ptrdiff_t>(frames));
      }
    }
    // Stopped and the ring found empty: everything captured has been read; then comes the resampler's
    // tail (once), and the call after that ends the stream.
    const bool drained = stopped && frames == 0;
    if (drained && resampler && !flushed) {
      Flush(out);
      flushed = true;
    }
    if (sample_limit > 0 && samples_delivered + static_cast<int64_t>(out.size()) >= sample_limit) {
      out.resize(static_cast<size_t>(sample_limit - samples_delivered));
      limit_reached = true;  // the next call returns false
      StopStream();
    }
    samples_delivered += static_cast<int64_t>(out.size());
    if (out.empty() && (drained || limit_reached)) return false;
    return true;
  }
};

MicrophoneSource::MicrophoneSource(const MicrophoneConfig& config) {
  config.Validate();
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->device = SelectCaptureDevice(EnumerateCaptureDevices(), config.device);
  impl->Negotiate();
  impl->Open();
  impl_ = std::move(impl);
}

MicrophoneSource::~MicrophoneSource() = default;

void MicrophoneSource::Start() {
  Impl& s = *impl_;
  if (s.started) throw DeviceError(fmt::format("{}: Start() called twice", s.DeviceLabel()));
  QuietStderr quiet;
  const PaError error = Pa_StartStream(s.stream);
  if (error != paNoError) {
    throw DeviceError(WithLibraryOutput(
        fmt::format("{}: cannot start capture: {}", s.DeviceLabel(), PaErrorText(error)), quiet.Text()));
  }
  s.started = true;
  s.last_progress = std::chrono::steady_clock::now();
}

void MicrophoneSource::Stop() { impl_->StopStream(); }

bool MicrophoneSource::Read(std::vector<float>& out, std::chrono::milliseconds max_wait) {
  out.clear();
  Impl& s = *impl_;
  if (s.finished) return false;
  try {
    const bool more = s.ReadImpl(out, max_wait);
    if (!more) s.finished = true;
    return more;
  } catch (const DeviceError&) {
    s.finished = true;
    s.StopStream();
    out.clear();
    throw;
  }
}

const CaptureDevice& MicrophoneSource::Device() const { return impl_->device; }
double MicrophoneSource::DeviceSampleRateHz() const { return impl_->device_rate_hz; }
double MicrophoneSource::OutputSampleRateHz() const { return impl_->config.sample_rate_hz; }
int MicrophoneSource::DeviceChannels() const { return impl_->channels; }
bool MicrophoneSource::Resampling() const { return impl_->resampler != nullptr; }
int64_t MicrophoneSource::FramesPerBlock() const { return impl_->frames_per_block; }

CaptureStats MicrophoneSource::Stats() const {
  const CallbackState& st = *impl_->state;
  CaptureStats stats;
  stats.frames_captured = st.frames_captured.load(std::memory_order_relaxed);
  stats.frames_dropped = st.frames_dropped.load(std::memory_order_relaxed);
  stats.overruns = st.overruns.load(std::memory_order_relaxed);
  stats.device_overflows = st.device_overflows.load(std::memory_order_relaxed);
  stats.samples_delivered = impl_->samples_delivered;
  return stats;
}

#else  // !OSSICLE_HAVE_PORTAUDIO

namespace {
[[noreturn]] void NoPortAudio() {
  throw DeviceError("live audio is not available: ossicle was built without PortAudio "
                    "(CMake option OSSICLE_WITH_PORTAUDIO=OFF)");
}
}  // namespace

std::vector<CaptureDevice> ListCaptureDevices() { NoPortAudio(); }

struct MicrophoneSource::Impl {};

MicrophoneSource::MicrophoneSource(const MicrophoneConfig& config) {
  config.Validate();
  NoPortAudio();
}
MicrophoneSource::~MicrophoneSource() = default;
void MicrophoneSource::Start() { NoPortAudio(); }
void MicrophoneSource::Stop() {}
bool MicrophoneSource::Read(std::vector<float>&, std::chrono::milliseconds) { NoPortAudio(); }
const CaptureDevice& MicrophoneSource::Device() const { NoPortAudio(); }
double MicrophoneSource::DeviceSampleRateHz() const { NoPortAudio(); }
double MicrophoneSource::OutputSampleRateHz() const { NoPortAudio(); }
int MicrophoneSource::DeviceChannels() const { NoPortAudio(); }
bool MicrophoneSource::Resampling() const { NoPortAudio(); }
int64_t MicrophoneSource::FramesPerBlock() const { NoPortAudio(); }
CaptureStats MicrophoneSource::Stats() const { NoPortAudio(); }

#endif

}  // namespace ossicle
