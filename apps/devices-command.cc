// ossicle devices — the audio capture devices `ossicle listen --device` can use.
#include <fmt/core.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "pipeline/microphone-source.h"

namespace ossicle {

CommandRunner AddDevicesCommand(CLI::App& app) {
  struct Options {
    bool json = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "devices", "List audio capture devices: index, name, input channels, default sample rate");
  cmd->add_flag("--json", opt->json, "One JSON object per device instead of a table")->capture_default_str();
  cmd->footer(
      "Select one with `ossicle listen --device INDEX` or `--device PART-OF-NAME`; '*' marks the default.\n"
      "OSSICLE_AUDIO_DEBUG=1 shows what the audio libraries print while probing.");

  return [opt]() {
    const std::vector<CaptureDevice> devices = ListCaptureDevices();
    if (opt->json) {
      for (const CaptureDevice& d : devices) {
        const nlohmann::json j = {{"index", d.index},
                                  {"name", d.name},
                                  {"host_api", d.host_api},
                                  {"channels", d.max_input_channels},
                                  {"default_sample_rate_hz", d.default_sample_rate_hz},
                                  {"default_low_latency_ms", d.default_low_latency_ms},
                                  {"default", d.is_default}};
        fmt::print("{}\n", j.dump());
      }
      return kExitOk;
    }
    if (devices.empty()) {
      fmt::print("no capture devices\n");
      return kExitOk;
    }
    size_t name_width = 4;
    for (const CaptureDevice& d : devices) name_width = std::max(name_width, d.name.size());
    fmt::print("  {:>5}  {:<{}}  {:>8}  {:>12}  {}\n", "index", "name", name_width, "channels", "default rate",
               "host API");
    for (const CaptureDevice& d : devices) {
      fmt::print("{} {:>5}  {:<{}}  {:>8}  {:>9g} Hz  {}\n", d.is_default ? '*' : ' ', d.index, d.name, name_width,
                 d.max_input_channels, d.default_sample_rate_hz, d.host_api);
    }
    return kExitOk;
  };
}

}  // namespace ossicle
