#include "pipeline/microphone-source.h"

#include <cstdlib>
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <thread>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "support/alsa-file-devices.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

// ---- configuration ----------------------------------------------------------------------------------------

TEST_CASE("MicrophoneConfig::Validate names the field, the value and the rule", "[microphone][config]") {
  CHECK_NOTHROW(MicrophoneConfig{}.Validate());
  struct Case {
    void (*set)(MicrophoneConfig&);
    const char* message;
  };
  const Case cases[] = {
      {[](MicrophoneConfig& c) { c.sample_rate_hz = 0; }, "microphone.sample_rate_hz = 0; expected in [1, 768000]"},
      {[](MicrophoneConfig& c) { c.sample_rate_hz = NAN; }, "microphone.sample_rate_hz = nan; expected"},
      {[](MicrophoneConfig& c) { c.device_rate_hz = -1; }, "microphone.device_rate_hz = -1; expected 0 (negotiate)"},
      {[](MicrophoneConfig& c) { c.device_rate_hz = 1e6; }, "microphone.device_rate_hz = 1000000; expected"},
      {[](MicrophoneConfig& c) { c.block_ms = 0.5; }, "microphone.block_ms = 0.5; expected in [1, 1000]"},
      {[](MicrophoneConfig& c) { c.ring_ms = 5; }, "microphone.ring_ms = 5; expected in [10, 600000]"},
      {[](MicrophoneConfig& c) { c.block_ms = 100; c.ring_ms = 300; },
       "microphone.ring_ms = 300; expected >= 4 x block_ms = 400"},
      {[](MicrophoneConfig& c) { c.latency_ms = -3; }, "microphone.latency_ms = -3; expected in [0, 10000]"},
      {[](MicrophoneConfig& c) { c.max_duration_s = -1; }, "microphone.max_duration_s = -1; expected finite"},
      {[](MicrophoneConfig& c) { c.max_duration_s = INFINITY; }, "microphone.max_duration_s = inf; expected"},
      {[](MicrophoneConfig& c) { c.stall_timeout_s = 0; }, "microphone.stall_timeout_s = 0; expected in (0, 3600]"},
  };
  for (const Case& c : cases) {
    MicrophoneConfig config;
    c.set(config);
    CHECK_THROWS_MATCHES(config.Validate(), ConfigError, HasMessage(c.message, c.message));
  }
  MicrophoneConfig config;
  config.block_ms = 0;
  CHECK_THROWS_MATCHES(config.Validate("graph.mic"), ConfigError, HasMessage("", "graph.mic.block_ms = 0"));
}

// ---- device selection (pure) ------------------------------------------------------------------------------

std::vector<CaptureDevice> FakeDevices() {
  auto make = [](int index, std::string name, bool is_default = false) {
    CaptureDevice d;
    d.index = index;
    d.name = std::move(name);
    d.host_api = "ALSA";
    d.max_input_channels = 2;
    d.default_sample_rate_hz = 44100;
    d.is_default = is_default;
    return d;
  };
  // Index 1 is an output-only device, so it is not in the capture list.
  return {make(0, "HDA Intel PCH: ALC3246 Analog (hw:0,0)"), make(2, "USB Mic A (hw:1,0)"),
          make(3, "USB Mic B (hw:2,0)"), make(4, "pulse"), make(5, "pulse monitor"), make(7, "default", true)};
}

TEST_CASE("SelectCaptureDevice: default, index, name substring", "[microphone][devices]") {
  const auto devices = FakeDevices();
  CHECK(SelectCaptureDevice(devices, "").index == 7);
  CHECK(SelectCaptureDevice(devices, "3").index == 3);
  CHECK(SelectCaptureDevice(devices, "0").index == 0);
  CHECK(SelectCaptureDevice(devices, "alc3246").index == 0);    // case-insensitive
  CHECK(SelectCaptureDevice(devices, "Mic B").index == 3);
  CHECK(SelectCaptureDevice(devices, "PULSE").index == 4);      // the exact name beats "pulse monitor"
  CHECK(SelectCaptureDevice(devices, "monitor").index == 5);
}

TEST_CASE("SelectCaptureDevice: unknown, ambiguous or non-capture devices list the capture devices",
          "[microphone][devices]") {
  const auto devices = FakeDevices();
  CHECK_THROWS_MATCHES(SelectCaptureDevice(devices, "usb"), DeviceError,
                       HasMessage("  2  USB Mic A (hw:1,0)  (ALSA, 2 ch, 44100 Hz)\n",
                                  "audio device 'usb' matches 2 capture devices: 'USB Mic A (hw:1,0)', "
                                  "'USB Mic B (hw:2,0)'; give more of the name or an index. Capture devices:\n"));
  CHECK_THROWS_MATCHES(SelectCaptureDevice(devices, "blue yeti"), DeviceError,
                       HasMessage("* 7  default  (ALSA", "no audio device matches 'blue yeti'. Capture devices:\n"));
  CHECK_THROWS_MATCHES(SelectCaptureDevice(devices, "1"), DeviceError,
                       HasMessage("pulse monitor", "audio device 1 is not a capture device. Capture devices:"));
  CHECK_THROWS_MATCHES(SelectCaptureDevice(devices, "99999999999999999999"), DeviceError,
                       HasMessage("", "audio device 99999999999999999999 is not a capture device"));
  CHECK_THROWS_MATCHES(SelectCaptureDevice({}, ""), DeviceError, HasMessage("", "there are no capture devices"));
  CHECK_THROWS_MATCHES(SelectCaptureDevice({}, "usb"), DeviceError,
                       HasMessage("There are no capture devices.", "no audio device matches 'usb'"));
  auto no_default = devices;
  for (auto& d : no_default) d.is_default = false;
  CHECK_THROWS_MATCHES(SelectCaptureDevice(no_default, ""), DeviceError,
                       HasMessage("USB Mic B", "there is no default capture device; choose one with --device"));
}

TEST_CASE("DescribeCaptureDevices prints one line per device and marks the default", "[microphone][devices]") {
  const auto devices = FakeDevices();
  const std::string text = DescribeCaptureDevices({devices[1], devices[5]});
  CHECK(text == "    2  USB Mic A (hw:1,0)  (ALSA, 2 ch, 44100 Hz)\n  * 7  default  (ALSA, 2 ch, 44100 Hz)\n");
}

// ---- capture from ALSA file devices -----------------------------------------------------------------------

std::string AudioPath(const char* name) { return std::string(OSSICLE_SOURCE_DIR) + "/test-audio/" + name; }

std::vector<float> ReadAtOwnRate(const char* name) {
  AudioReadConfig config;
  config.sample_rate_hz = 0;  // the file's own rate
  return ReadAudioFile(AudioPath(name), config);
}

// The devices of this process: HOME points at a temporary .asoundrc before PortAudio first starts.
struct TestDevices {
  test::AlsaFileDevices alsa;
  std::vector<float> stop_16k = ReadAtOwnRate("stop_en_16k.wav");
  std::vector<float> yes_48k = ReadAtOwnRate("yes_en-us_48k.wav");
  TestDevices() {
    alsa.Add("ossicle_test_stop16k", stop_16k);
    alsa.Add("ossicle_test_yes48k", yes_48k);
    alsa.WriteConfig();
    setenv("HOME", alsa.Home().c_str(), 1);
  }
};

#if OSSICLE_WITH_PORTAUDIO

// nullptr (after a WARN) when this machine's ALSA cannot present the test devices.
const TestDevices* Devices() {
  static TestDevices devices;
  static const bool listed = [] {
    for (const CaptureDevice& d : ListCaptureDevices()) {
      if (d.name == "ossicle_test_stop16k") return true;
    }
    return false;
  }();
  if (!listed) {
    // alsa-lib without its configuration (/usr/share/alsa/alsa.conf), or PortAudio without ALSA.
    REQUIRE_FALSE(std::filesystem::exists("/usr/share/alsa/alsa.conf"));
    WARN("PortAudio does not list the ALSA file devices (no ALSA configuration): capture tests skipped");
    return nullptr;
  }
  return &devices;
}

// Reads until the source ends; at most `limit` samples (a guard against a stream that never ends).
std::vector<float> ReadAll(MicrophoneSource& mic, size_t limit) {
  std::vector<float> all, block;
  while (all.size() < limit && mic.Read(block, std::chrono::milliseconds(200))) {
    all.insert(all.end(), block.begin(), block.end());
  }
  return all;
}

TEST_CASE("ListCaptureDevices lists the ALSA file devices", "[microphone][alsa]") {
  const TestDevices* devices = Devices();
  if (devices == nullptr) return;
  const auto list = ListCaptureDevices();
  const auto it = std::find_if(list.begin(), list.end(),
                               [](const CaptureDevice& d) { return d.name == "ossicle_test_yes48k"; });
  REQUIRE(it != list.end());
  CHECK(it->host_api == "ALSA");
  CHECK(it->max_input_channels >= 1);
  CHECK(it->default_sample_rate_hz > 0);
  CHECK(SelectCaptureDevice(list, "yes48").index == it->index);
}

TEST_CASE("MicrophoneSource delivers a device's samples exactly at the model's rate", "[microphone][alsa][threads]") {
  const TestDevices* devices = Devices();
  if (devices == nullptr) return;
  const auto& expected = devices->stop_16k;
  MicrophoneConfig config;
  config.device = "stop16k";
  config.sample_rate_hz = 16000;
  // The file device has no clock and floods the ring; a ring longer than the clip keeps every sample of
  // the clip (only later samples can be dropped), so the first max_duration_s are exact.
  config.ring_ms = 5000;
  config.max_duration_s = static_cast<double>(expected.size()) / 16000.0;
  MicrophoneSource mic(config);
  CHECK(mic.Device().name == "ossicle_test_stop16k");
  CHECK(mic.DeviceSampleRateHz() == 16000);  // the model's rate is preferred
  CHECK_FALSE(mic.Resampling());
  CHECK(mic.DeviceChannels() == 1);
  CHECK(mic.FramesPerBlock() == 160);
  mic.Start();
  const std::vector<float> got = ReadAll(mic, 10 * expected.size());
  REQUIRE(got.size() == expected.size());
  size_t first_diff = got.size();
  for (size_t i = 0; i < got.size() && first_diff == got.size(); ++i) {
    if (got[i] != expected[i]) first_diff = i;
  }
  INFO("first difference at sample " << first_diff);
  CHECK(first_diff == got.size());
  std::vector<float> block;
  CHECK_FALSE(mic.Read(block));  // ended, and stays ended
  CHECK(block.empty());
  const CaptureStats stats = mic.Stats();
  CHECK(stats.samples_delivered == static_cast<int64_t>(expected.size()));
  CHECK(stats.frames_captured >= stats.samples_delivered);
}

TEST_CASE("MicrophoneSource resamples a 48 kHz device to 16 kHz as the file reader does", "[microphone][alsa][threads]") {
  const TestDevices* devices = Devices();
  if (devices == nullptr) return;
  AudioReadConfig read16;
  read16.sample_rate_hz = 16000;
  const std::vector<float> expected = ReadAudioFile(AudioPath("yes_en-us_48k.wav"), read16);
  MicrophoneConfig config;
  config.device = "ossicle_test_yes48k";
  config.device_rate_hz = 48000;
  config.ring_ms = 5000;
  config.max_duration_s = static_cast<double>(expected.size()) / 16000.0;
  MicrophoneSource mic(config);
  CHECK(mic.DeviceSampleRateHz() == 48000);
  CHECK(mic.Resampling());
  mic.Start();
  const std::vector<float> got = ReadAll(mic, 10 * expected.size());
  REQUIRE(got.size() == expected.size());
  // The same soxr filter over the same input; only the end differs (the file reader flushes soxr, the live
  // stream goes on with the device's zeros), and both are zeros there, so the streams agree closely.
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(static_cast<double>(got[i]) - expected[i]);
    if (d > worst) worst = d, worst_at = i;
  }
  INFO("largest difference " << worst << " at sample " << worst_at);
  CHECK(worst < 1e-5);
}

TEST_CASE("MicrophoneSource: Stop() keeps what was captured, then the stream ends", "[microphone][alsa][threads]") {
  const TestDevices* devices = Devices();
  if (devices == nullptr) return;
  const auto& clip = devices->stop_16k;
  MicrophoneConfig config;
  config.device = "stop16k";
  config.ring_ms = 5000;
  MicrophoneSource mic(config);
  mic.Start();
  std::vector<float> got, block;
  while (got.size() < clip.size()) {
    REQUIRE(mic.Read(block));
    got.insert(got.end(), block.begin(), block.end());
  }
  mic.Stop();
  mic.Stop();  // idempotent
  while (mic.Read(block)) got.insert(got.end(), block.begin(), block.end());
  CHECK_FALSE(mic.Read(block));
  REQUIRE(got.size() >= clip.size());
  CHECK(std::equal(clip.begin(), clip.end(), got.begin()));
  // After the clip the device plays zeros; drops (if any) only remove some of them.
  CHECK(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(clip.size()), got.end(),
                    [](float v) { return v == 0.0f; }));
  CHECK(mic.Stats().samples_delivered == static_cast<int64_t>(got.size()));
}

TEST_CASE("MicrophoneSource counts overruns when the reader falls behind the ring", "[microphone][alsa][threads]") {
  const TestDevices* devices = Devices();
  if (devices == nullptr) return;
  const auto& clip = devices->stop_16k;
  MicrophoneConfig config;
  config.device = "stop16k";
  config.block_ms = 10;
  config.ring_ms = 40;  // 640 frames; the device floods far faster
  config.max_duration_s = 0.5;
  MicrophoneSource mic(config);
  mic.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the ring fill and overflow
  std::vector<float> first;
  REQUIRE(mic.Read(first));
  // The ring never overwrites: what the reader sees first is the start of the clip.
  REQUIRE(first.size() == 640);
  CHECK(std::equal(first.begin(), first.end(), clip.begin()));
  const std::vector<float> rest = ReadAll(mic, 1'000'000);
  CHECK(first.size() + rest.size() == 8000);  // max_duration_s still holds
  const CaptureStats stats = mic.Stats();
  CHECK(stats.overruns > 0);
  CHECK(stats.frames_dropped > 0);
  CHECK(stats.frames_captured >= stats.frames_dropped + 8000);
}

TEST_CASE("MicrophoneSource: an unknown device is a DeviceError that lists the devices", "[microphone][alsa]") {
  const TestDevices* devices = Devices();
  if (devices == nullptr) return;
  MicrophoneConfig config;
  config.device = "no such microphone";
  CHECK_THROWS_MATCHES(MicrophoneSource(config), DeviceError,
                       HasMessage("ossicle_test_stop16k", "no audio device matches 'no such microphone'"));
  config.device = "ossicle_test";
  CHECK_THROWS_MATCHES(MicrophoneSource(config), DeviceError,
                       HasMessage("'ossicle_test_stop16k', 'ossicle_test_yes48k'", "audio device 'ossicle_test'"));
  config.device = "stop16k";
  config.block_ms = 0;
  CHECK_THROWS_MATCHES(MicrophoneSource(config), ConfigError, HasMessage("", "microphone.block_ms = 0"));
}

#else  // built without PortAudio

TEST_CASE("Without PortAudio, live capture says how ossicle was built", "[microphone]") {
  CHECK_THROWS_MATCHES(ListCaptureDevices(), DeviceError, HasMessage("OSSICLE_WITH_PORTAUDIO=OFF"));
  CHECK_THROWS_MATCHES(MicrophoneSource(MicrophoneConfig{}), DeviceError, HasMessage("built without PortAudio"));
}

#endif

}  // namespace
}  // namespace ossicle
