#include "support/alsa-file-devices.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace ossicle::test {

namespace fs = std::filesystem;

static_assert(std::endian::native == std::endian::little, "the raw device files are written as native floats");

AlsaFileDevices::AlsaFileDevices() : dir_("ossicle-alsa") {}

void AlsaFileDevices::Add(const std::string& name, std::span<const float> samples, const std::string& description) {
  const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!valid) throw std::invalid_argument("ALSA test device name '" + name + "': use letters, digits and '_'");
  const fs::path raw = Home() / (name + ".f32");
  std::ofstream out(raw, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(samples.data()),
            static_cast<std::streamsize>(samples.size() * sizeof(float)));
  if (!out) throw std::runtime_error("cannot write " + raw.string());
  devices_.emplace_back(name, description.empty() ? "ossicle test device " + name : description);
}

void AlsaFileDevices::WriteConfig() const {
  std::string text = "# Written by ossicle's tests (tests/support/alsa-file-devices.h).\n";
  for (const auto& [name, description] : devices_) {
    text += "pcm." + name + " {\n";
    text += "  type file\n";
    text += "  slave.pcm \"null\"\n";
    text += "  file \"/dev/null\"\n";
    text += "  infile \"" + (Home() / (name + ".f32")).string() + "\"\n";
    text += "  format \"raw\"\n";
    text += "  hint { show on description \"" + description + "\" }\n";
    text += "}\n";
  }
  const fs::path path = Home() / ".asoundrc";
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace ossicle::test
