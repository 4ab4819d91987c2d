// Live audio from a capture device (PortAudio), as a stream of mono float samples at a chosen rate.
//
//   ossicle::MicrophoneConfig config;               // default input device, delivered at 16 kHz
//   config.device = "USB";                          // or "3" (a PortAudio index), "" for the default
//   ossicle::MicrophoneSource mic(config);          // opens the device (DeviceError if it cannot)
//   mic.Start();
//   std::vector<float> block;
//   while (!ossicle::StopRequested() && mic.Read(block)) extractor.AcceptWaveform(16000, block);
//   mic.Stop();
//   while (mic.Read(block)) ...;                    // what was captured before Stop(), then the end
//   if (mic.Stats().overruns > 0) warn(...);
//
// Threads: PortAudio calls the capture callback on its own real-time thread. The callback only copies the
// device's interleaved float frames into a preallocated lock-free ring (pipeline/ring-buffer.h) and counts
// overruns; it never allocates, locks, logs or throws. Everything else (down-mixing, resampling, waiting)
// happens in Read(), on the caller's thread. Construct, use and destroy a source on one thread.
//
// Device choice (`device`): "" is PortAudio's default input device; a string of digits is a PortAudio
// device index (`ossicle devices` prints them); anything else is a case-insensitive substring of the
// device name, which must match exactly one capture device (a name equal to the whole string wins over
// longer names that contain it). Unknown, ambiguous, or not a capture device -> DeviceError whose message
// lists the capture devices.
//
// Sample rate: the device is opened at `device_rate_hz` when it is set; otherwise at the first rate the
// device accepts (Pa_IsFormatSupported) among sample_rate_hz (the model's rate: no resampling), the device's
// default rate, then 48000, 44100, 32000, 22050, 16000, 11025, 8000 Hz. Channels: mono when the device
// accepts it, else 2 channels averaged. Audio at another rate than sample_rate_hz is resampled with soxr
// (SOXR_HQ, as pipeline/audio-file-reader.h), so output sample n is the input at t = n / sample_rate_hz.
//
// Timeline: samples are numbered from Start(). When the consumer falls behind by more than the ring
// (ring_ms), the callback drops the frames that do not fit: they are missing from the stream (later
// times are early by the dropped duration) and counted in Stats(). A device that delivers nothing for
// stall_timeout_s, or a stream that stops by itself, makes Read() throw DeviceError.
//
// Quiet start: probing ALSA, JACK and OSS devices makes their libraries print dozens of lines on stderr
// ("ALSA lib confmisc.c:855:(parse_card) cannot find card '0'", "jack server is not running ..."). While
// PortAudio initialises, probes and opens, file descriptor 2 points at a temporary file (its text is kept
// for the DeviceError if the call fails), ALSA's error handler is replaced by a silent one (when built with
// ALSA), and JACK_NO_START_SERVER=1 is set unless already set. OSSICLE_AUDIO_DEBUG=1 disables all three.
//
// Built without PortAudio (CMake OSSICLE_WITH_PORTAUDIO=OFF), ListCaptureDevices() and the constructor
// throw DeviceError saying so; the pure helpers (config, SelectCaptureDevice) still work.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "features/config-fields.h"

namespace ossicle {

struct MicrophoneConfig {
  std::string device;               // "" default input; digits: PortAudio index; else a name substring
  double sample_rate_hz = 16000.0;  // rate of the delivered samples (the model's rate)
  double device_rate_hz = 0.0;      // rate the device is opened at; 0 negotiates (see above)
  double block_ms = 10.0;           // audio per callback (frames per buffer = round(block_ms x rate))
  double ring_ms = 2000.0;          // ring capacity: how far the consumer may fall behind before drops
  double latency_ms = 0.0;          // suggested input latency; 0 takes the device's default low latency
  double max_duration_s = 0.0;      // > 0: deliver exactly round(max_duration_s x sample_rate_hz) samples,
                                    //   then end (like arecord -d); 0: until Stop()
  double stall_timeout_s = 5.0;     // no audio for this long while running -> DeviceError

  template <class Self, class Visitor>
  static void Fields(Self& self, Visitor&& v) {
    v(FieldInfo{"device", "",
                "capture device: empty for the default, an index from `ossicle devices`, or a part of its name"},
      self.device);
    v(FieldInfo{"sample_rate_hz", "Hz", "rate of the samples delivered to the pipeline (resampled if needed)"},
      self.sample_rate_hz);
    v(FieldInfo{"device_rate_hz", "Hz",
                "rate the device is opened at; 0 picks sample_rate_hz if supported, else the device default"},
      self.device_rate_hz);
    v(FieldInfo{"block_ms", "ms", "audio delivered per device callback"}, self.block_ms);
    v(FieldInfo{"ring_ms", "ms", "capture buffer; audio beyond it is dropped (counted as overruns)"},
      self.ring_ms);
    v(FieldInfo{"latency_ms", "ms", "suggested device input latency; 0 uses the device's default low latency"},
      self.latency_ms);
    v(FieldInfo{"max_duration_s", "s", "stop after this much audio; 0 runs until stopped"},
      self.max_duration_s);
    v(FieldInfo{"stall_timeout_s", "s", "a device that delivers nothing for this long is an error"},
      self.stall_timeout_s);
  }

  // Throws ConfigError naming the field ("microphone.block_ms = 0; expected in [1, 1000]"):
  //   sample_rate_hz in [1, 768000]; device_rate_hz 0 or in [1, 768000]; block_ms in [1, 1000];
  //   ring_ms in [10, 600000] and >= 4 x block_ms; latency_ms in [0, 10000]; max_duration_s finite, >= 0;
  //   stall_timeout_s in (0, 3600].
  void Validate(std::string_view path = "microphone") const;
};

// One capture device as PortAudio lists it.
struct CaptureDevice {
  int index = -1;              // PortAudio device index (what `--device 3` selects)
  std::string name;            // e.g. "HDA Intel PCH: ALC3246 Analog (hw:0,0)"
  std::string host_api;        // "ALSA", "JACK Audio Connection Kit", "OSS", ...
  int max_input_channels = 0;  // > 0 for every listed device
  double default_sample_rate_hz = 0.0;
  double default_low_latency_ms = 0.0;
  bool is_default = false;  // PortAudio's default input device
};

// The capture devices (max_input_channels > 0), in PortAudio index order. Initialises PortAudio quietly
// (see above) for the duration of the call. Throws DeviceError if PortAudio cannot initialise (or is not
// built in); an empty list is not an error.
std::vector<CaptureDevice> ListCaptureDevices();

// Picks the device `spec` names among `devices` (rules above; "" picks the one with is_default). Pure: no
// PortAudio calls. Throws DeviceError, e.g.
//   "audio device 'usb' matches 2 capture devices: 'USB Mic A (hw:1,0)', 'USB Mic B (hw:2,0)'; give more
//    of the name or an index. Capture devices:\n  1  USB Mic A (hw:1,0)  ...\n"
//   "no audio device matches 'blue'. Capture devices:\n ..."
//   "audio device 5 is not a capture device. Capture devices: ..."
//   "there are no capture devices"  /  "there is no default capture device. Capture devices: ..."
const CaptureDevice& SelectCaptureDevice(const std::vector<CaptureDevice>& devices, std::string_view spec);

// The table `ossicle devices` prints, one line per device, for messages:
//   "  * 0  default  (ALSA, 32 ch, 44100 Hz)\n" ('*' marks the default device).
std::string DescribeCaptureDevices(const std::vector<CaptureDevice>& devices);

// Counters since Start(), readable at any time from the consumer thread.
struct CaptureStats {
  int64_t frames_captured = 0;   // device frames the callback received (dropped ones included)
  int64_t frames_dropped = 0;    // device frames lost because the ring was full
  int64_t overruns = 0;          // callbacks that had to drop frames
  int64_t device_overflows = 0;  // callbacks PortAudio flagged paInputOverflow (the driver lost audio)
  int64_t samples_delivered = 0;  // samples Read() has returned, at OutputSampleRateHz()

  double DroppedSeconds(double device_rate_hz) const {
    return static_cast<double>(frames_dropped) / device_rate_hz;
  }
};

class MicrophoneSource {
 public:
  // Validates `config` (ConfigError), initialises PortAudio, selects the device, negotiates rate and
  // channels, allocates the ring and opens the stream (DeviceError on any device problem). Not started.
  explicit MicrophoneSource(const MicrophoneConfig& config);
  ~MicrophoneSource();  // stops and closes the stream, releases PortAudio
  MicrophoneSource(const MicrophoneSource&) = delete;
  MicrophoneSource& operator=(const MicrophoneSource&) = delete;

  // Starts capture (DeviceError if PortAudio refuses). Call once.
  void Start();
  // Stops capture: PortAudio finishes the callback in progress; no audio arrives afterwards. What the ring
  // holds stays readable: Read() returns it, then the resampler's tail, then false. Idempotent.
  void Stop();

  // Clears `out`, waits up to `max_wait` for at least one block (block_ms) of audio, then returns every
  // sample available, mono, at OutputSampleRateHz(). Returns true while the stream goes on (`out` may be
  // empty when nothing arrived in time, so a caller can poll a stop flag), false once it has ended: after
  // Stop() and the drain, or after max_duration_s of audio. Throws DeviceError for a stalled or failed
  // device (the source is then finished).
  bool Read(std::vector<float>& out, std::chrono::milliseconds max_wait = std::chrono::milliseconds(100));

  const CaptureDevice& Device() const;
  double DeviceSampleRateHz() const;
  double OutputSampleRateHz() const;
  int DeviceChannels() const;  // channels opened (1, or 2 averaged)
  bool Resampling() const;
  int64_t FramesPerBlock() const;  // device frames per callback
  CaptureStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ossicle
