// ossicle model import-torch | info | run | set-decoder | ensemble — acoustic model files: make one from a
// PyTorch state_dict export, describe one, run one over features (.npy) or audio, set its default decoder,
// merge several into one.
#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "apps/commands.h"
#include "apps/exit-codes.h"
#include "apps/feature-options.h"
#include "features/config-json.h"
#include "features/errors.h"
#include "models/acoustic-model.h"
#include "models/ctc-decoder.h"
#include "models/ctc-keyword-spotter.h"
#include "models/model-ensemble.h"
#include "models/model-stream.h"
#include "pipeline/npy-file.h"
#include "pipeline/stages/model-decoder-defaults.h"

namespace ossicle {

namespace {

// "LSTM, 2 layers, hidden 32, bidirectional, input 40, 12 classes, frame head"
std::string DescribeArchitecture(const ModelArchitecture& a) {
  std::string s =
      fmt::format("{}, {} layer{}, hidden {}, {}, input {}, {} classes, ", a.cell == CellType::kLstm ? "LSTM" : "GRU",
                  a.num_layers, a.num_layers == 1 ? "" : "s", a.hidden_size,
                  a.bidirectional ? "bidirectional" : "unidirectional", a.input_size, a.num_classes);
  if (a.head == HeadType::kAttention) return s + fmt::format("attention head (size {})", a.attention_size);
  if (a.ensemble_size > 1) return s + fmt::format("frame head, ensemble of {} (mean of probabilities)", a.ensemble_size);
  return s + "frame head";
}

// Where a feature configuration's Dim() comes from: "mel.num_mel_bins = 80, deltas.order = 0".
std::string DescribeDim(const FeatureConfig& f) {
  const std::string base = f.type == FeatureType::kMfcc ? fmt::format("mfcc.num_ceps = {}", f.mfcc.num_ceps)
                                                        : fmt::format("mel.num_mel_bins = {}", f.mel.num_mel_bins);
  return fmt::format("{}, deltas.order = {}", base, f.deltas.order);
}

// One label per line; a trailing '\r' is dropped and blank lines are skipped.
std::vector<std::string> ReadLabelsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open labels file");
  std::vector<std::string> labels;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) labels.push_back(line);
  }
  return labels;
}

// ---- import-torch

struct ImportOptions {
  std::string state_dict;
  std::string out;
  FeatureOptions features;  // --features-preset, --features, --set (no --num-mel-bins / --channel here)
  std::vector<std::string> labels;
  std::string labels_file;
};

int RunImport(const ImportOptions& opt) {
  const FeatureConfig features = BuildFeatureConfig(opt.features);
  std::vector<std::string> labels = opt.labels_file.empty() ? opt.labels : ReadLabelsFile(opt.labels_file);
  std::vector<std::string> ignored;
  auto model = AcousticModel::ImportTorch(opt.state_dict, features, labels, &ignored);
  const ModelArchitecture arch = model->Architecture();  // a copy: `model` is replaced below
  if (arch.input_size != features.Dim()) {
    throw ConfigError(fmt::format(
        "{}: the model's input size is {} but the features have {} values per frame ({}); choose the features the "
        "model was trained on with --features-preset, --features or --set",
        opt.state_dict, arch.input_size, features.Dim(), DescribeDim(features)));
  }
  nlohmann::json provenance = nlohmann::json::parse(model->ProvenanceJson());
  provenance["ossicle_version"] = OSSICLE_VERSION;
  model = model->WithMetadata(model->Features(), model->Labels(), provenance.dump());
  model->Save(opt.out);
  fmt::print("{}: {}; {} parameters\n", opt.state_dict, DescribeArchitecture(arch), model->NumParameters());
  fmt::print("ignored {} tensor{} that {} not model parameters{}{}\n", ignored.size(), ignored.size() == 1 ? "" : "s",
             ignored.size() == 1 ? "is" : "are", ignored.empty() ? "" : ": ", fmt::join(ignored, ", "));
  fmt::print("labels: {}\n", fmt::join(model->Labels(), ", "));
  fmt::print("features: {} values per frame ({})\n", features.Dim(), DescribeDim(features));
  fmt::print("-> {}\n", opt.out);
  return kExitOk;
}

// ---- info

struct InfoOptions {
  std::vector<std::string> models;
  bool json = false;
};

void PrintInfo(const std::string& path, const AcousticModel& model, bool json) {
  nlohmann::json provenance;
  try {
    provenance = nlohmann::json::parse(model.ProvenanceJson());
  } catch (const nlohmann::json::exception&) {
    provenance = model.ProvenanceJson();  // free form: shown as it is
  }
  // The decoder a graph uses this model with by default (`model set-decoder`, a calibrated keyword-train
  // threshold), or null.
  const std::string decoder_text = ReadModelDecoderJson(path);
  const nlohmann::json decoder = decoder_text.empty() ? nlohmann::json() : nlohmann::json::parse(decoder_text);
  if (json) {
    const nlohmann::json j = {{"path", path},
                              {"architecture", ConfigToJson(model.Architecture())},
                              {"num_parameters", model.NumParameters()},
                              {"ensemble_hidden_sizes", model.EnsembleHiddenSizes()},
                              {"labels", model.Labels()},
                              {"features", ConfigToJson(model.Features())},
                              {"decoder", decoder},
                              {"provenance", provenance}};
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("{}\n", path);
  fmt::print("  architecture: {}\n", DescribeArchitecture(model.Architecture()));
  if (!model.EnsembleHiddenSizes().empty()) {
    fmt::print("  members: {}, hidden sizes {}\n", model.EnsembleHiddenSizes().size(),
               fmt::join(model.EnsembleHiddenSizes(), ", "));
  }
  fmt::print("  parameters: {}\n", model.NumParameters());
  fmt::print("  labels ({}): {}\n", model.Labels().size(), fmt::join(model.Labels(), ", "));
  fmt::print("  features ({} values per frame): {}\n", model.Features().Dim(), model.Features().ToString());
  fmt::print("  decoder: {}\n", decoder.is_null() ? std::string("none (graphs give the decoder's options)") : decoder.dump());
  fmt::print("  provenance: {}\n", provenance.dump());
}

int RunInfo(const InfoOptions& opt) {
  int status = kExitOk;
  for (const std::string& path : opt.models) {
    try {
      PrintInfo(path, *AcousticModel::Load(path), opt.json);
    } catch (const Error& e) {
      // Batch rule: every input yields a result or an error record; the first failure sets the exit code.
      fmt::print(stderr, "error: {}\n", e.what());
      if (status == kExitOk) status = ExitCodeFor(e);
    }
  }
  return status;
}

// ---- run

struct RunOptions {
  std::string model;
  std::string input;
  std::string audio;
  std::string out;
  std::string mode = "auto";  // offline for --input (compare with PyTorch), chunked for --audio (long files)
  StreamingConfig streaming;
  int channel = -1;
};

int RunModel(const RunOptions& opt) {
  const auto model = AcousticModel::Load(opt.model);
  const ModelArchitecture& arch = model->Architecture();
  StreamingConfig streaming = opt.streaming;
  if (opt.mode == "auto") {
    streaming.mode = opt.input.empty() ? BidirectionalMode::kChunked : BidirectionalMode::kOffline;
  } else {
    streaming.mode = *EnumFromString<BidirectionalMode>(opt.mode);  // CLI11 checked the spelling
  }
  ModelStream stream(model, streaming);

  // Read (and check) the input before the output exists, so a bad input leaves nothing behind.
  std::optional<NpyMatrix> input;
  if (!opt.input.empty()) {
    input = ReadNpy(opt.input);
    if (input->shape.size() != 2 || input->Cols() != arch.input_size) {
      std::vector<std::string> dims;
      for (int64_t d : input->shape) dims.push_back(std::to_string(d));
      throw ConfigError(fmt::format("{}: the input has shape [{}]; the model {} expects [frames, {}] ({})", opt.input,
                                    fmt::join(dims, ", "), opt.model, arch.input_size, DescribeDim(model->Features())));
    }
  }
  NpyWriter writer(opt.out, arch.num_classes);
  // Hands every ready row of log-probabilities to the writer and forgets it: memory stays flat.
  auto drain = [&]() {
    const int64_t first = stream.FirstFrameHeld(), ready = stream.NumFramesReady();
    if (ready > first) writer.AppendRows(stream.LogProbsFrom(first));
    stream.ReleaseFramesBefore(ready);
  };
  auto accept = [&](std::span<const float> rows) {
    const int64_t n = static_cast<int64_t>(rows.size()) / arch.input_size;
    if (n == 0) return;
    stream.AcceptFrames(Eigen::Map<const MatrixF>(rows.data(), n, arch.input_size));
    drain();
  };
  if (input) {
    // Blocks of frames, as a live source would deliver them; the result does not depend on the block size.
    constexpr size_t kBlockFrames = 1024;
    const size_t block = kBlockFrames * static_cast<size_t>(arch.input_size);
    const std::span<const float> all(input->data);
    for (size_t i = 0; i < all.size(); i += block) accept(all.subspan(i, std::min(block, all.size() - i)));
  } else {
    StreamFileFeatures(opt.audio, model->Features(), opt.channel, accept);
  }
  stream.InputFinished();
  drain();
  writer.Close();
  fmt::print("{}: {} frames x {} classes -> {}\n", input ? opt.input : opt.audio, writer.Rows(), arch.num_classes,
             opt.out);
  return kExitOk;
}

struct SetDecoderOptions {
  std::string model;
  std::string decoder;  // JSON object or list of objects; "" removes the metadata
  std::string out;
};

// ConfigError unless `decoder` (a --decoder value; "" = none) is a JSON object with a string "type" or a list
// of such objects of distinct types. decoder.ctc_beam and decoder.ctc_keywords entries are checked by building
// the decoder over the model's tokens (so words the model cannot spell are refused here, not at first use).
void CheckDecoderOption(const AcousticModel& model, const std::string& decoder) {
  if (decoder.empty()) return;
  std::vector<nlohmann::json> entries;
  try {
    entries = DecoderEntries(decoder, "--decoder");
  } catch (const ModelFormatError& e) {
    const std::string what = e.what();
    if (what.find(" twice ") != std::string::npos) throw ConfigError(what);
    throw ConfigError("--decoder: expected a JSON object with a string \"type\" or a list of such objects, got '" +
                      decoder + "'");
  }
  for (const nlohmann::json& j : entries) {
    if (j["type"] == "decoder.ctc_beam") {
      CtcBeamConfig beam;
      nlohmann::json options = j;
      options.erase("type");
      ConfigFromJson(options, beam, "--decoder");
      CtcBeamDecoder check(beam, model.Labels(), model.Features().frame.frame_shift_ms / 1000.0, "--decoder");
    } else if (j["type"] == "decoder.ctc_keywords") {
      CtcKeywordSpotterConfig spotter;
      nlohmann::json options = j;
      options.erase("type");
      ConfigFromJson(options, spotter, "--decoder");
      CtcKeywordSpotter check(spotter, model.Labels(), model.Features().frame.frame_shift_ms / 1000.0, "--decoder");
    }
  }
}

// Copies a model with new "decoder" metadata.
int RunSetDecoder(const SetDecoderOptions& opt) {
  const std::shared_ptr<const AcousticModel> model = AcousticModel::Load(opt.model);
  CheckDecoderOption(*model, opt.decoder);
  SaveModelWithDecoderJson(*model, opt.out, opt.decoder);
  fmt::print("{}: {} decoder metadata\n", opt.out, opt.decoder.empty() ? "without" : "with");
  return kExitOk;
}

// ---- ensemble

struct EnsembleOptions {
  std::vector<std::string> models;
  std::optional<std::string> decoder;  // unset: the first member's decoder metadata
  std::string out;
};

// Merges trained models into one (models/model-ensemble.h: side-by-side units, the mean of the logits).
int RunEnsemble(const EnsembleOptions& opt) {
  std::vector<EnsembleMember> members;
  for (const std::string& path : opt.models) members.push_back({path, AcousticModel::Load(path)});
  const std::shared_ptr<const AcousticModel> merged = EnsembleModels(members);
  const std::string decoder = opt.decoder ? *opt.decoder : ReadModelDecoderJson(opt.models.front());
  CheckDecoderOption(*merged, decoder);
  SaveModelWithDecoderJson(*merged, opt.out, decoder);
  fmt::print("{}: {} models, hidden {} ({}), {} parameters, {} decoder metadata\n", opt.out, members.size(),
             merged->Architecture().hidden_size, DescribeArchitecture(merged->Architecture()),
             merged->NumParameters(), decoder.empty() ? "without" : "with");
  return kExitOk;
}

}  // namespace

CommandRunner AddModelCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("model", "Acoustic model files: import from PyTorch, describe, run");
  cmd->require_subcommand(1);

  auto imp = std::make_shared<ImportOptions>();
  CLI::App* import_cmd = cmd->add_subcommand(
      "import-torch",
      "Make an ossicle model from a PyTorch state_dict saved as safetensors (nn.LSTM/nn.GRU as 'rnn', nn.Linear as "
      "'out'), with the feature configuration and labels it was trained with");
  import_cmd->add_option("state_dict", imp->state_dict, "PyTorch state_dict export (.safetensors)")->required();
  import_cmd->add_option("--out", imp->out, "Model file to write (.safetensors)")->required();
  import_cmd->add_option("--features-preset", imp->features.preset, "Feature configuration the model was trained on")
      ->check(CLI::IsMember({"kaldi-fbank", "librosa-logmel", "kaldi-mfcc"}))
      ->capture_default_str();
  import_cmd->add_option("--features", imp->features.config_file,
                         "Feature configuration YAML refining the preset (keys: ossicle config-docs)");
  AddSetOption(*import_cmd, imp->features.overrides, "Override one feature key, e.g. --set mel.num_mel_bins=80");
  auto* labels =
      import_cmd
          ->add_option("--labels", imp->labels, "Class names in output order, comma-separated (default: 0, 1, 2, ...)")
          ->delimiter(',')->allow_extra_args(false);
  auto* labels_file =
      import_cmd->add_option("--labels-file", imp->labels_file, "Class names in output order, one per line");
  labels->excludes(labels_file);

  auto info = std::make_shared<InfoOptions>();
  CLI::App* info_cmd = cmd->add_subcommand(
      "info", "Describe model files: architecture, parameter count, labels, feature configuration, provenance");
  info_cmd->add_option("models", info->models, "Model files")->required();
  info_cmd->add_flag("--json", info->json, "One JSON object per model and line")->capture_default_str();

  auto run = std::make_shared<RunOptions>();
  CLI::App* run_cmd = cmd->add_subcommand(
      "run", "Run a model over features (.npy) or audio; write log-probabilities [frames, classes] float32 .npy");
  run_cmd->add_option("model", run->model, "Model file")->required();
  CLI::Option_group* source = run_cmd->add_option_group("source", "What to run the model on (one of)");
  source->add_option("--input", run->input,
                     "Features [frames, input size] float32/float64 .npy, made like the model's features");
  source->add_option("--audio", run->audio,
                     "Audio file: features computed with the model's own configuration, streamed");
  source->require_option(1);
  run_cmd->add_option("--out", run->out, "Log-probabilities to write (.npy)")->required();
  run_cmd
      ->add_option("--mode", run->mode,
                   "How a bidirectional model runs: offline (whole input at once), chunked, sliding_window; auto = "
                   "offline with --input, chunked with --audio")
      ->check(CLI::IsMember({"auto", "offline", "chunked", "sliding_window"}))
      ->capture_default_str();
  run_cmd->add_option("--chunk-frames", run->streaming.chunk_frames, "chunked: frames emitted per chunk")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_cmd
      ->add_option("--right-context-frames", run->streaming.right_context_frames,
                   "chunked: look-ahead frames for the backward pass")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  run_cmd->add_option("--window-frames", run->streaming.window_frames, "sliding_window: frames per window")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_cmd->add_option("--hop-frames", run->streaming.hop_frames, "sliding_window: frames between window starts")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  run_cmd->add_option("--channel", run->channel, "--audio: use this channel (0-based) instead of averaging all (-1)")
      ->check(CLI::Range(-1, 255))
      ->capture_default_str();

  auto set_decoder = std::make_shared<SetDecoderOptions>();
  CLI::App* set_decoder_cmd = cmd->add_subcommand(
      "set-decoder", "Copy a model with new \"decoder\" metadata: the decoder and options it is used with by default");
  set_decoder_cmd->add_option("model", set_decoder->model, "Model file")->required();
  set_decoder_cmd
      ->add_option("--decoder", set_decoder->decoder,
                   "JSON object: \"type\" (a decoder stage) and its options, e.g. "
                   "'{\"type\": \"decoder.ctc_beam\", \"words\": [\"yes\", \"no\"]}', or a list of such objects "
                   "(one per decoder type); empty removes the metadata")
      ->required();
  set_decoder_cmd->add_option("--out", set_decoder->out, "Model file to write (may be the input)")->required();

  auto ensemble = std::make_shared<EnsembleOptions>();
  CLI::App* ensemble_cmd = cmd->add_subcommand(
      "ensemble",
      "Merge trained models of the same kind (cell, layers, features, labels; any hidden size) into one model "
      "that averages their probabilities");
  ensemble_cmd->add_option("models", ensemble->models, "Model files (two or more)")->required()->expected(2, -1);
  ensemble_cmd->add_option("--decoder", ensemble->decoder,
                           "JSON \"decoder\" metadata as for set-decoder (default: the first model's; empty: none)");
  ensemble_cmd->add_option("--out", ensemble->out, "Model file to write")->required();

  return [=]() {
    if (import_cmd->parsed()) return RunImport(*imp);
    if (ensemble_cmd->parsed()) return RunEnsemble(*ensemble);
    if (set_decoder_cmd->parsed()) return RunSetDecoder(*set_decoder);
    if (info_cmd->parsed()) return RunInfo(*info);
    return RunModel(*run);
  };
}

}  // namespace ossicle
