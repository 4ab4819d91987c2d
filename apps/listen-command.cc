// ossicle listen — keyword spotting on a live microphone until Ctrl-C / SIGTERM (docs/live.md).
//
// Runs a graph whose source is source.microphone, by default configs/graphs/live-keywords.yaml
// (live-ctc-keywords.yaml for a CTC model: keywords as text, as `ossicle spot` does). The options
// are overrides of that graph: --device, --duration and --device-rate set the microphone stage, --model
// the model stage, --keywords and --threshold the keyword decoder; --set reaches any other option. Records
// go to the graph's sinks as they happen (the default graph prints hits with their times, then one summary
// line). Ctrl-C or SIGTERM stops the device; what it had captured is still processed, the summary is
// written and the exit code is 0. A device error ends the run with exit code 6.
#include <fmt/core.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apps/batch-command.h"
#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "features/errors.h"
#include "models/acoustic-model.h"
#include "pipeline/graph-config.h"
#include "pipeline/graph-runner.h"
#include "pipeline/stop-signal.h"

namespace ossicle {

namespace {

bool IsMicrophoneStage(std::string_view type) { return type == "source.microphone"; }

// Shortest text that reads back as the same double ("1.09", not "1.090000").
std::string Number(double v) { return fmt::format("{}", v); }

// --json: the graph's text sinks that print on standard output print JSON lines instead.
void TextSinksToJson(GraphConfig& config) {
  for (StageSpec& s : config.stages) {
    if (s.type != "sink.text") continue;
    const YAML::Node path = s.options["path"];
    const std::string p = path.IsDefined() && path.IsScalar() ? path.Scalar() : "";
    if (!p.empty() && p != "-") continue;
    s.type = "sink.jsonl";
    if (s.options["summaries"].IsDefined()) s.options.remove("summaries");  // a text-sink option only
  }
}

}  // namespace

CommandRunner AddListenCommand(CLI::App& app) {
  struct Options {
    std::string graph;
    std::string device;
    std::string model;
    std::vector<std::string> keywords;
    std::optional<double> threshold;
    std::optional<double> duration_s;
    std::optional<double> device_rate_hz;
    std::vector<std::string> overrides;
    bool json = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "listen", "Keyword spotting on a live microphone: prints each hit as it happens, until Ctrl-C");
  cmd->add_option("--device", opt->device,
                  "Capture device: an index or part of the name from `ossicle devices` (default: the system's)");
  cmd->add_option("--model", opt->model,
                  "Keyword model (.safetensors); replaces the graph's model path. A CTC model (a transcriber, "
                  "models/pretrained/digits.safetensors) runs configs/graphs/live-ctc-keywords.yaml unless --graph "
                  "is given");
  cmd->add_option("--keywords", opt->keywords,
                  "Keywords to report, comma-separated model labels (default: the graph's list); for a CTC model "
                  "the words as text (default: the words of its decoder metadata)")
      ->delimiter(',')->allow_extra_args(false);
  cmd->add_option("--threshold", opt->threshold, "Confidence a hit needs, in (0, 1] (default: the graph's)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--duration", opt->duration_s, "Stop after this many seconds of audio (default: until Ctrl-C)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--device-rate", opt->device_rate_hz,
                  "Open the device at this rate (Hz) and resample (default: the model's rate if the device "
                  "supports it, else the device's default)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--graph", opt->graph, "Graph file (default: configs/graphs/live-keywords.yaml; live-ctc-keywords.yaml for a CTC model)");
  AddSetOption(*cmd, opt->overrides, "Override a stage option: STAGE.OPTION=VALUE");
  cmd->add_flag("--json", opt->json, "Print JSON lines (hit and summary records) instead of text")
      ->capture_default_str();
  cmd->footer(
      "Ctrl-C or SIGTERM stops listening: the audio already captured is processed, the summary is printed,\n"
      "and the exit code is 0. Buffer overruns (audio lost because processing fell behind) are counted in\n"
      "the summary. OSSICLE_AUDIO_DEBUG=1 shows what ALSA/JACK print while the device is opened.");

  return [opt]() {
    // A CTC model has no keyword classes: without --graph it runs the CTC keyword graph, spotting the words
    // given with --keywords or those of its decoder metadata (as `ossicle spot` does: CtcModelKeywords).
    const CommandModel m = ResolveCommandModel(opt->model, !opt->graph.empty(), opt->keywords, opt->threshold);
    const std::string path = !opt->graph.empty() ? opt->graph
                             : FindGraphFile(m.ctc ? "live-ctc-keywords.yaml" : "live-keywords.yaml");
    const GraphConfig plain = LoadGraphConfig(path);
    // The microphone stage is needed even without microphone options: listen runs live graphs only.
    const std::string mic = StageFor(plain, "listen", "source.microphone", IsMicrophoneStage);
    std::vector<std::string> overrides;
    if (!opt->device.empty()) overrides.push_back(mic + ".device=" + opt->device);
    if (opt->duration_s) overrides.push_back(mic + ".max_duration_s=" + Number(*opt->duration_s));
    if (opt->device_rate_hz) overrides.push_back(mic + ".device_rate_hz=" + Number(*opt->device_rate_hz));
    if (!opt->model.empty()) {
      const std::vector<std::string> model = ModelOverrides(plain, opt->model, m.loaded.get());
      overrides.insert(overrides.end(), model.begin(), model.end());
    }
    const std::vector<std::string> keyword = KeywordOverrides(plain, m.keywords, m.threshold);
    overrides.insert(overrides.end(), keyword.begin(), keyword.end());
    overrides.insert(overrides.end(), opt->overrides.begin(), opt->overrides.end());

    GraphConfig config = LoadGraphConfig(path, overrides);
    if (opt->json) TextSinksToJson(config);
    // Everything is validated here (model, keywords, sample rates) before the device is opened.
    const std::shared_ptr<const Graph> graph = Graph::Build(config);

    std::optional<nlohmann::json> summary;
    GraphRunOptions run;
    run.stop_requested = StopRequested;
    run.exit_code_for = [](const std::exception& e) { return static_cast<int>(ExitCodeFor(e)); };
    run.on_record = [&summary](const nlohmann::json& record) {
      const std::string type = record.value("type", "");
      if (type == "error") fmt::print(stderr, "error: {}\n", record.value("error", ""));
      if (type == "summary") summary = record;
    };

    ClearStopRequest();
    int code = kExitOk;
    {
      ScopedStopSignals signals;  // from here on Ctrl-C / SIGTERM stop the run instead of killing it
      fmt::print(stderr, "listening ({}); Ctrl-C stops\n",
                 opt->device.empty() ? std::string("default capture device") : "device " + opt->device);
      std::fflush(stderr);
      code = graph->Run(run);
    }
    // How the run ended, on stderr so standard output holds only the records.
    if (summary) {
      const int sig = StopSignalNumber();
      const std::string how = sig != 0 ? fmt::format("stopped by {}", SignalName(sig))
                                       : (code == kExitOk ? "ended" : "failed");
      fmt::print(stderr, "{} after {:.2f} s of audio: {} hit{}, {} overrun{} ({:.3f} s of audio lost)\n", how,
                 summary->value("duration_s", 0.0), summary->value("hits", int64_t{0}),
                 summary->value("hits", int64_t{0}) == 1 ? "" : "s", summary->value("overruns", int64_t{0}),
                 summary->value("overruns", int64_t{0}) == 1 ? "" : "s", summary->value("dropped_s", 0.0));
    }
    return code;
  };
}

}  // namespace ossicle
