// ossicle run GRAPH.yaml [INPUT...] — run any processing graph (pipeline/graph-runner.h).
//
// Inputs on the command line replace the path list of the graph's source.file stage. Records go to the
// graph's sinks; a graph without a records sink prints them as JSON lines on standard output. Every input
// gets a summary or an error record, and the exit code is that of the first failed input.
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "pipeline/graph-runner.h"
#include "pipeline/stage-registry.h"
#include "pipeline/stop-signal.h"

namespace ossicle {

namespace {

// True when some sink of the graph writes records somewhere.
bool HasRecordSink(const GraphConfig& config) {
  for (const StageSpec& spec : config.stages) {
    const StageType* type = StageRegistry::Builtin().Find(spec.type);
    if (type == nullptr || !type->is_sink) continue;
    for (const InputPort& port : type->inputs) {
      if (port.kind == StreamKind::kRecords) return true;
    }
  }
  return false;
}

}  // namespace

CommandRunner AddRunCommand(CLI::App& app) {
  struct Options {
    std::string graph;
    std::vector<std::string> inputs;
    std::vector<std::string> overrides;
    bool check = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("run", "Run a processing graph (YAML; see configs/graphs/) over audio files or a microphone");
  cmd->add_option("graph", opt->graph, "Graph file (YAML)")->required();
  cmd->add_option("inputs", opt->inputs, "Audio files (replace the source.file stage's paths)");
  AddSetOption(*cmd, opt->overrides, "Override a stage option: STAGE.OPTION=VALUE");
  cmd->add_flag("--check", opt->check, "Validate the graph, print its stages and exit")->capture_default_str();

  return [opt]() {
    auto graph = Graph::Load(opt->graph, opt->overrides);
    const GraphConfig& config = graph->Config();
    if (opt->check) {
      fmt::print("{}: {} stages, valid\n", opt->graph, config.stages.size());
      for (size_t i : config.order) {
        const StageSpec& s = config.stages[i];
        std::string inputs;
        for (const auto& in : s.inputs) inputs += (inputs.empty() ? " <- " : ", ") + in;
        fmt::print("  {} ({}){}\n", s.name, s.type, inputs);
      }
      return static_cast<int>(kExitOk);
    }
    const bool print_records = !HasRecordSink(config);
    GraphRunOptions run;
    run.inputs = opt->inputs;
    run.stop_requested = StopRequested;
    run.exit_code_for = [](const std::exception& e) { return static_cast<int>(ExitCodeFor(e)); };
    run.on_record = [print_records](const nlohmann::json& record) {
      const std::string type = record.value("type", "");
      if (type == "summary" && record.contains("warning")) {
        fmt::print(stderr, "warning: {}\n", record.value("warning", ""));
      }
      if (type == "error") fmt::print(stderr, "error: {}\n", record.value("error", ""));
      if (print_records) {
        fmt::print("{}\n", record.dump());
        std::fflush(stdout);
      }
    };
    ClearStopRequest();
    ScopedStopSignals signals;  // Ctrl-C / SIGTERM end a live run cleanly (summary written, sinks closed)
    return graph->Run(run);
  };
}

}  // namespace ossicle
