// ossicle info FILE... — format, rate, channels and duration of audio files.
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "features/errors.h"
#include "pipeline/audio-file-reader.h"

namespace ossicle {

CommandRunner AddInfoCommand(CLI::App& app) {
  struct Options {
    std::vector<std::string> files;
    bool json = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("info", "Print format, sample rate, channels and duration of audio files");
  cmd->add_option("files", opt->files, "Audio files (WAV, FLAC, OGG/Vorbis, AIFF, ...)")->required();
  cmd->add_flag("--json", opt->json, "One JSON object per file instead of a table")->capture_default_str();

  return [opt]() {
    int status = kExitOk;
    for (const std::string& path : opt->files) {
      try {
        const AudioInfo info = ProbeAudioFile(path);
        if (opt->json) {
          nlohmann::json j = {{"path", path},           {"container", info.container}, {"encoding", info.encoding},
                              {"sample_rate_hz", info.sample_rate_hz}, {"channels", info.channels},
                              {"frames", info.frames},   {"duration_s", info.duration_s}};
          fmt::print("{}\n", j.dump());
        } else {
          fmt::print("{}: {} {}, {} Hz, {} channel{}, {} frames, {:.3f} s\n", path, info.container, info.encoding,
                     info.sample_rate_hz, info.channels, info.channels == 1 ? "" : "s", info.frames,
                     info.duration_s);
        }
      } catch (const Error& e) {
        // Batch rule: every input yields a result or an error record; the first failure sets the exit code.
        if (opt->json) {
          fmt::print("{}\n", nlohmann::json{{"path", path}, {"error", e.what()}, {"category", CategoryFor(e)}}.dump());
        }
        fmt::print(stderr, "error: {}\n", e.what());
        if (status == kExitOk) status = ExitCodeFor(e);
      }
    }
    return status;
  };
}

}  // namespace ossicle
