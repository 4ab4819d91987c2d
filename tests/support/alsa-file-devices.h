// ALSA capture devices that play files, so live capture can be tested without a sound card.
//
//   ossicle::test::AlsaFileDevices devices;                  // a fresh HOME with an .asoundrc
//   devices.Add("ossicle_test_stop", samples_16k);           // a capture device that "hears" these samples
//   devices.WriteConfig();
//   setenv("HOME", devices.Home().c_str(), 1);               // in-process, before PortAudio starts; or
//   RunOssicle("HOME=" + devices.Home().string() + " ossicle listen --device ossicle_test_stop ...")
//
// Each device is alsa-lib's "file" PCM plugin over the "null" PCM:
//   pcm.NAME { type file; slave.pcm "null"; file "/dev/null"; infile "<HOME>/NAME.f32"; format "raw";
//              hint { show on; description "..." } }
// On capture the plugin reads the infile and returns its bytes as the samples, then zeros after its end.
// The null PCM accepts any rate, channel count and sample format, and PortAudio opens such a device with
// its preferred format, float32 little-endian, so the infile holds the samples as raw little-endian float32
// (mono at any rate: whatever rate the stream is opened at plays the file at that rate). The device has no
// clock: it delivers audio as fast as the reader takes it, far faster than real time.
//
// The file goes to <HOME>/.asoundrc, which alsa-lib's default configuration (/usr/share/alsa/alsa.conf)
// loads after its own, so the system's devices stay listed (ALSA_CONFIG_PATH would replace them).
// alsa-lib reads HOME when it first loads its configuration (PortAudio reloads it on every Pa_Initialize).
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "support/bad-audio-files.h"

namespace ossicle::test {

class AlsaFileDevices {
 public:
  AlsaFileDevices();

  // A device named `name` (letters, digits, '_' only) whose capture returns `samples`, then zeros.
  // `description` is the hint alsa-lib shows (`arecord -L`). Writes <HOME>/<name>.f32 now.
  void Add(const std::string& name, std::span<const float> samples, const std::string& description = "");
  // Writes <HOME>/.asoundrc with every device added so far.
  void WriteConfig() const;

  // The directory to use as HOME.
  const std::filesystem::path& Home() const { return dir_.path(); }

 private:
  ScopedTempDir dir_;
  std::vector<std::pair<std::string, std::string>> devices_;  // name, description
};

}  // namespace ossicle::test
