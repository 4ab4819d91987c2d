#include "pipeline/graph-runner.h"

#include <algorithm>

#include "features/errors.h"
#include "pipeline/stage-registry.h"
#include "pipeline/stages/builtin-stages.h"

namespace ossicle {

struct Graph::Node {
  const StageSpec* spec = nullptr;
  const StageType* type = nullptr;
  std::unique_ptr<const Stage> stage;
  bool is_sink = false;  // StageType::is_sink
  bool per_run = false;  // one instance for the whole run (Stage::Lifetime::kPerRun)
  // Where the output goes: (node index, input index at that node).
  std::vector<std::pair<size_t, size_t>> downstream;
};

namespace {

std::string DescribePorts(const StageType& type) {
  std::string out;
  for (const auto& port : type.inputs) {
    if (!out.empty()) out += " and ";
    out += port.min_count == 0 ? "optionally " : "";
    out += std::string(EnumToString(port.kind));
    if (port.max_count != 1) out += " (one or more)";
  }
  return out;
}

// A sink that failed (cannot write): not a problem of the input, so it ends the run instead of becoming an
// error record.
struct SinkFailure {
  std::exception_ptr error;
};

}  // namespace

Graph::~Graph() = default;

std::shared_ptr<const Graph> Graph::Load(const std::string& path, const std::vector<std::string>& overrides) {
  return Build(LoadGraphConfig(path, overrides));
}

std::shared_ptr<const Graph> Graph::Build(const GraphConfig& config) {
  std::shared_ptr<Graph> g(new Graph());
  g->config_ = config;
  const GraphConfig& cfg = g->config_;
  const StageRegistry& registry = StageRegistry::Builtin();
  std::vector<size_t> node_of(cfg.stages.size(), 0);
  int sources = 0;
  for (size_t i : cfg.order) {
    const StageSpec& spec = cfg.stages[i];
    auto node = std::make_unique<Node>();
    node->spec = &spec;
    node->type = registry.Find(spec.type);
    if (node->type == nullptr) ThrowYamlError(cfg.source, spec.type_node, spec.name + ".type", "unknown stage type '" + spec.type + "'");
    const StageType& type = *node->type;

    StageBuildContext ctx{cfg, spec, {}, {}};
    if (type.inputs.empty()) {
      if (!spec.inputs.empty()) {
        ThrowYamlError(cfg.source, spec.input_node, spec.name + ".input", spec.type + " is a source: it takes no input");
      }
      if (++sources > 1) {
        ThrowYamlError(cfg.source, spec.type_node, spec.name + ".type",
                       "a graph has exactly one source stage; '" + g->nodes_[g->source_]->spec->name + "' is the first");
      }
      g->source_ = g->nodes_.size();
    }
    std::vector<int> used(type.inputs.size(), 0);
    for (size_t k = 0; k < spec.inputs.size(); ++k) {
      const Node& from = *g->nodes_[node_of[spec.input_indices[k]]];
      const std::string& from_name = spec.inputs[k];
      if (from.is_sink) {
        ThrowYamlError(cfg.source, spec.input_nodes[k], spec.name + ".input",
                       "'" + from_name + "' is a sink (" + from.spec->type + "): it has no output");
      }
      const StreamInfo& info = from.stage->Output();
      size_t port = type.inputs.size();
      for (size_t p = 0; p < type.inputs.size() && port == type.inputs.size(); ++p) {
        const InputPort& ip = type.inputs[p];
        if (ip.kind == info.kind && (ip.max_count < 0 || used[p] < ip.max_count)) port = p;
      }
      if (port == type.inputs.size()) {
        const bool kind_known = std::any_of(type.inputs.begin(), type.inputs.end(),
                                            [&](const InputPort& ip) { return ip.kind == info.kind; });
        ThrowYamlError(cfg.source, spec.input_nodes[k], spec.name + ".input",
                       kind_known ? "too many " + std::string(EnumToString(info.kind)) + " inputs: " + spec.type +
                                        " takes " + DescribePorts(type)
                                  : "'" + from_name + "' (" + from.spec->type + ") delivers " +
                                        std::string(EnumToString(info.kind)) + " but " + spec.type + " takes " +
                                        DescribePorts(type));
      }
      ++used[port];
      ctx.inputs.push_back(&info);
      ctx.input_ports.push_back(port);
    }
    for (size_t p = 0; p < type.inputs.size(); ++p) {
      if (used[p] < type.inputs[p].min_count) {
        ThrowYamlError(cfg.source, spec.input_node, spec.name + ".input",
                       (spec.inputs.empty() ? std::string("missing key 'input': ")
                                            : "no " + std::string(EnumToString(type.inputs[p].kind)) + " input: ") +
                           spec.type + " takes " + DescribePorts(type));
      }
    }
    node->stage = type.build(ctx);
    node->is_sink = type.is_sink;
    node->per_run = node->stage->GetLifetime() == Stage::Lifetime::kPerRun;
    node_of[i] = g->nodes_.size();
    for (size_t k = 0; k < spec.input_indices.size(); ++k) {
      g->nodes_[node_of[spec.input_indices[k]]]->downstream.emplace_back(g->nodes_.size(), k);
    }
    g->nodes_.push_back(std::move(node));
  }
  if (sources == 0) {
    ThrowYamlError(cfg.source, cfg.stages.front().node, "stages",
                   "the graph has no source stage (source.file or source.microphone)");
  }
  return g;
}

namespace {

// One input through the graph. Every stage that is not a sink gets a fresh instance; sinks take part only
// when `run_sinks` is given: per-input sinks get a fresh instance too, per-run sinks are the run's
// instances (in `run_sinks`, by node), which see the input's packets, its summary and its end.
class InputRun {
 public:
  InputRun(const std::vector<std::unique_ptr<Graph::Node>>& nodes, size_t source, const InputContext& input,
           const RecordCallback& on_record, const std::vector<StageInstance*>* run_sinks)
      : nodes_(nodes), source_(source), input_(input), on_record_(on_record), with_sinks_(run_sinks != nullptr) {
    owned_.resize(nodes.size());
    instances_.assign(nodes.size(), nullptr);
    emitters_.reserve(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) emitters_.emplace_back(this, i);
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Graph::Node& node = *nodes[i];
      if (node.is_sink && !with_sinks_) continue;
      if (node.per_run) {
        instances_[i] = (*run_sinks)[i];
      } else if (node.is_sink) {
        SinkCall([&] { owned_[i] = node.stage->Start(input); });
        instances_[i] = owned_[i].get();
      } else {
        owned_[i] = node.stage->Start(input);
        instances_[i] = owned_[i].get();
      }
    }
  }

  void Run() {
    StageInstance& source = *instances_[source_];
    while (source.Produce(emitters_[source_])) {
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]->is_sink) instances_[i]->Finish(emitters_[i]);
    }
    Record summary = {{"type", "summary"}, {"file", input_.name}};
    summary.update(source.SummaryFields());
    if (!summary.contains("duration_s")) summary["duration_s"] = 0.0;
    summary["hits"] = hits_;
    summary["transcripts"] = transcripts_;
    if (with_sinks_) DeliverRecord(nodes_, instances_, summary, emitters_[source_]);
    if (on_record_) on_record_(summary);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i]->is_sink && instances_[i] != nullptr) {
        SinkCall([&] {
          instances_[i]->Finish(emitters_[i]);
          if (!nodes_[i]->per_run) {
            if (auto* sink = dynamic_cast<SinkInstance*>(instances_[i])) sink->Close();
          }
        });
      }
    }
  }

  // A record that belongs to no stage (summary, error) goes to every sink that takes records.
  static void DeliverRecord(const std::vector<std::unique_ptr<Graph::Node>>& nodes,
                            const std::vector<StageInstance*>& sinks, const Record& record, Emitter& none) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!nodes[i]->is_sink || sinks[i] == nullptr) continue;
      const auto& ports = nodes[i]->type->inputs;
      if (std::any_of(ports.begin(), ports.end(), [](const InputPort& p) { return p.kind == StreamKind::kRecords; })) {
        SinkCall([&] { sinks[i]->Accept(0, Packet(record), none); });
      }
    }
  }

  template <class F>
  static void SinkCall(F&& f) {
    try {
      f();
    } catch (...) {
      throw SinkFailure{std::current_exception()};
    }
  }

 private:
  class NodeEmitter : public Emitter {
   public:
    NodeEmitter(InputRun* run, size_t node) : run_(run), node_(node) {}
    void Emit(const Packet& packet) override { run_->Deliver(node_, packet); }

   private:
    InputRun* run_;
    size_t node_;
  };

  void Deliver(size_t from, const Packet& packet) {
    const Graph::Node& node = *nodes_[from];
    if (node.is_sink) return;
    if (const auto* record = std::get_if<Record>(&packet)) {
      const std::string type = record->value("type", "");
      if (type == "hit") ++hits_;
      if (type == "transcript") ++transcripts_;
      if (on_record_) on_record_(*record);
    }
    for (const auto& [to, input] : node.downstream) {
      StageInstance* target = instances_[to];
      if (target == nullptr) continue;  // a sink left out
      if (nodes_[to]->is_sink) {
        // Explicit captures: clang 14 cannot capture structured bindings with [&].
        SinkCall([&, in = input, emitter = &emitters_[to]] { target->Accept(in, packet, *emitter); });
      } else {
        target->Accept(input, packet, emitters_[to]);
      }
    }
  }

  const std::vector<std::unique_ptr<Graph::Node>>& nodes_;
  size_t source_;
  const InputContext& input_;
  const RecordCallback& on_record_;
  bool with_sinks_;
  std::vector<std::unique_ptr<StageInstance>> owned_;
  std::vector<StageInstance*> instances_;
  std::vector<NodeEmitter> emitters_;
  int64_t hits_ = 0;
  int64_t transcripts_ = 0;
};

// An emitter for sinks (which emit nothing).
class NullEmitter : public Emitter {
 public:
  void Emit(const Packet&) override {}
};

}  // namespace

const std::string& Graph::SourceType() const { return nodes_[source_]->spec->type; }

std::vector<std::string> Graph::SourcePaths() const { return FileSourcePaths(*nodes_[source_]->stage); }

void Graph::RunFile(const std::string& path, const RecordCallback& on_record,
                    const std::function<bool()>& stop_requested) const {
  if (SourceType() != "source.file") {
    throw ConfigError(config_.source.file + ": " + nodes_[source_]->spec->name + ": the graph's source is " +
                      SourceType() + "; running it per file needs source.file");
  }
  InputContext input{path, stop_requested};
  InputRun run(nodes_, source_, input, on_record, nullptr);
  run.Run();
}

int Graph::Run(const GraphRunOptions& options) const {
  std::vector<std::string> inputs;
  if (SourceType() == "source.file") {
    inputs = options.inputs.empty() ? SourcePaths() : options.inputs;
    if (inputs.empty()) {
      throw ConfigError(config_.source.file + ": " + nodes_[source_]->spec->name +
                        ".paths: no input files (list them there or give them on the command line)");
    }
  } else {
    if (!options.inputs.empty()) {
      throw ConfigError(config_.source.file + ": " + nodes_[source_]->spec->name + ": the graph's source is " +
                        SourceType() + "; it takes no input files");
    }
    inputs.push_back(SourceType() == "source.microphone" ? "microphone" : nodes_[source_]->spec->name);
  }

  // Sinks: one instance for the whole run.
  std::vector<std::unique_ptr<StageInstance>> sink_owner(nodes_.size());
  std::vector<StageInstance*> sinks(nodes_.size(), nullptr);
  const InputContext run_context{config_.source.file, options.stop_requested};
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->per_run) {
      sink_owner[i] = nodes_[i]->stage->Start(run_context);
      sinks[i] = sink_owner[i].get();
    }
  }
  int status = 0;
  NullEmitter none;
  try {
    for (const std::string& name : inputs) {
      if (options.stop_requested && options.stop_requested()) break;
      InputContext input{name, options.stop_requested};
      try {
        InputRun run(nodes_, source_, input, options.on_record, &sinks);
        run.Run();
      } catch (const Error& e) {
        const int code = options.exit_code_for ? options.exit_code_for(e) : 1;
        if (status == 0) status = code;
        const Record error = {{"type", "error"}, {"file", name}, {"error", e.what()}, {"exit_code", code}};
        InputRun::DeliverRecord(nodes_, sinks, error, none);
        if (options.on_record) options.on_record(error);
      }
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (auto* sink = dynamic_cast<SinkInstance*>(sinks[i])) sink->Close();
    }
  } catch (const SinkFailure& failure) {
    std::rethrow_exception(failure.error);
  }
  return status;
}

}  // namespace ossicle
