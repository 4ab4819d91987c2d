// Running a validated processing graph.
//
//   // ossicle run: sinks from the graph, inputs from the command line (they replace source.file's paths).
//   auto graph = ossicle::Graph::Load("configs/graphs/batch-keywords.yaml", {"model.path=cmds.safetensors"});
//   ossicle::GraphRunOptions opt;
//   opt.inputs = {"a.wav", "b.wav"};
//   int exit_code = graph->Run(opt);
//
//   // Batch commands: build once, run per file on any thread, records to a callback; sinks are not used.
//   auto graph = ossicle::Graph::Load(yaml, overrides);           // model loaded once, shared, immutable
//   graph->RunFile("a.wav", [&](const nlohmann::json& record) { writer.Write(record); });
//
//   // Live: a microphone graph until a stop is requested (Ctrl-C), records to the graph's sinks and to
//   // the callback as they happen.
//   ossicle::ScopedStopSignals signals;                            // pipeline/stop-signal.h
//   ossicle::GraphRunOptions opt;
//   opt.stop_requested = ossicle::StopRequested;
//   opt.on_record = [](const nlohmann::json& r) { ... };
//   graph->Run(opt);
//
// Everything is validated by Load() before any audio flows (pipeline/graph-config.h lists the rules).
// Records are the JSON objects of pipeline/stage.h. Every input ends with one summary record
// {"type":"summary","file":F,"duration_s":..,"hits":N,"transcripts":N} after its other records.
//
// Determinism: the records of an input do not depend on the source's block size (every stage accepts any
// chunking and produces the whole-input result); records of one decoder come in time order.
#pragma once

#include <yaml-cpp/yaml.h>

#include <exception>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/graph-config.h"
#include "pipeline/stage.h"

namespace ossicle {

using RecordCallback = std::function<void(const nlohmann::json& record)>;

struct GraphRunOptions {
  // Non-empty: replaces the path list of the graph's source.file stage (ConfigError when the graph has a
  // microphone source instead).
  std::vector<std::string> inputs;
  // Polled between blocks (cheap, thread-safe, e.g. ossicle::StopRequested): once true, the source stops
  // after the block in hand and the current input finishes normally (records flushed, summary written,
  // sinks closed); later inputs are skipped. Empty: never.
  std::function<bool()> stop_requested;
  // Called with every record (hit, transcript, summary, error) as it is produced, besides the graph's sinks.
  RecordCallback on_record;
  // Maps a failed input's exception to the exit_code of its error record and of Run() (the app passes
  // apps/exit-codes.h's ExitCodeFor). Null: 1.
  std::function<int(const std::exception&)> exit_code_for;
};

class Graph {
 public:
  // Reads and validates a graph file: overrides are "stage.option=value" (--set), applied before
  // validation. Throws ConfigError (file:line:column, key path), IoError (unreadable file),
  // ModelFormatError (a model named by the graph is damaged), with the graph position in the message.
  static std::shared_ptr<const Graph> Load(const std::string& path, const std::vector<std::string>& overrides = {});
  // The same from an already parsed configuration.
  static std::shared_ptr<const Graph> Build(const GraphConfig& config);

  const GraphConfig& Config() const { return config_; }

  // The source stage's type ("source.file" or "source.microphone") and, for source.file, its path list.
  const std::string& SourceType() const;
  std::vector<std::string> SourcePaths() const;

  // The per-input entry point (thread-safe; any number of calls at once). Runs every stage except sinks over
  // `path` (through the graph's source.file stage options: sample rate, channel, ...) and hands each record to
  // `on_record`, ending with the summary. A problem with this input (unreadable audio, NaN samples, ...)
  // is thrown (AudioError, ...) after the records already delivered; the caller turns it into an error
  // record. ConfigError when the graph's source is not source.file.
  void RunFile(const std::string& path, const RecordCallback& on_record,
               const std::function<bool()>& stop_requested = {}) const;

  // The whole graph: per-run sinks opened once, every input in turn (source.file: options.inputs or the
  // graph's paths; source.microphone: one session until stop_requested), sinks closed. A failing input becomes an
  // error record and the run goes on with the next one. Returns 0, or the exit code (exit_code_for) of the
  // first failed input. Sink failures (IoError) and configuration errors are thrown.
  int Run(const GraphRunOptions& options) const;

  // Internal: the stages in evaluation order (sources first).
  struct Node;
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

 private:
  Graph() = default;
  GraphConfig config_;
  std::vector<std::unique_ptr<Node>> nodes_;  // in config_.order
  size_t source_ = 0;                         // index into nodes_
};

}  // namespace ossicle
