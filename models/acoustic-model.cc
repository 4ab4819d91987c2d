#include "models/acoustic-model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <nlohmann/json.hpp>
#include <set>

#include "features/config-json.h"
#include "features/errors.h"
#include "models/model-ensemble.h"
#include "models/safetensors.h"

namespace ossicle {

namespace {

constexpr const char* kFormat = "ossicle-model";
constexpr const char* kFormatVersion = "1";

std::string LayerName(int k, bool reverse) { return "_l" + std::to_string(k) + (reverse ? "_reverse" : ""); }

MatrixF ToMatrix(std::vector<float> v, int64_t rows, int64_t cols) {
  MatrixF m(rows, cols);
  std::copy(v.begin(), v.end(), m.data());
  return m;
}

VectorF ToVector(std::vector<float> v) {
  VectorF x(static_cast<Eigen::Index>(v.size()));
  std::copy(v.begin(), v.end(), x.data());
  return x;
}

// Adds the model's tensors to `w` under PyTorch's names (Parameters() order and shapes), each prefixed with
// `prefix`.
void AddTensors(SafetensorsWriter& w, const AcousticModel& model, const std::string& prefix) {
  for (const ConstParameterView& p : model.Parameters()) w.AddF32(prefix + p.name, p.shape, p.values);
}

std::string MemberPrefix(size_t m) { return "members." + std::to_string(m) + "."; }

// True when `sizes` are an ensemble's member hidden sizes for `arch`: ensemble_size (>= 2) sizes, each in
// [1, 65536], summing to hidden_size.
bool ValidEnsembleHiddenSizes(const std::vector<int64_t>& sizes, const ModelArchitecture& arch) {
  int64_t sum = 0;
  for (int64_t h : sizes) {
    if (h < 1 || h > 65536) return false;
    sum += h;
  }
  return arch.ensemble_size >= 2 && static_cast<int64_t>(sizes.size()) == arch.ensemble_size &&
         sum == arch.hidden_size;
}

}  // namespace

void ModelArchitecture::Validate(std::string_view path) const {
  auto check = [&](bool ok, std::string_view field, const auto& value, std::string_view rule) {
    if (!ok) throw ConfigError(RuleMessage(path, field, value, rule));
  };
  check(input_size >= 1 && input_size <= 65536, "input_size", input_size, "between 1 and 65536");
  check(hidden_size >= 1 && hidden_size <= 65536, "hidden_size", hidden_size, "between 1 and 65536");
  check(num_layers >= 1 && num_layers <= 64, "num_layers", num_layers, "between 1 and 64");
  check(num_classes >= 1 && num_classes <= 1000000, "num_classes", num_classes, "between 1 and 1000000");
  check(head != HeadType::kAttention || (attention_size >= 1 && attention_size <= 65536), "attention_size",
        attention_size, "between 1 and 65536 with the attention head");
  check(ensemble_size >= 1 && ensemble_size <= 64, "ensemble_size", ensemble_size, "between 1 and 64");
  check(ensemble_size == 1 || head == HeadType::kFrame, "ensemble_size", ensemble_size, "1 with the attention head");
}

std::vector<std::string> ParameterNames(const ModelArchitecture& arch) {
  std::vector<std::string> names;
  for (int k = 0; k < arch.num_layers; ++k) {
    for (int d = 0; d < (arch.bidirectional ? 2 : 1); ++d) {
      for (const char* p : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) {
        names.push_back(std::string("rnn.") + p + LayerName(k, d == 1));
      }
    }
  }
  if (arch.head == HeadType::kAttention) {
    names.insert(names.end(), {"att.weight", "att.bias", "att.context"});
  }
  names.insert(names.end(), {"out.weight", "out.bias"});
  return names;
}

std::shared_ptr<const AcousticModel> AcousticModel::FromTensors(const ModelArchitecture& arch,
                                                                const TensorReader& read, const std::string& source) {
  try {
    arch.Validate();
  } catch (const ConfigError& e) {
    throw ModelFormatError(source + ": " + e.what());
  }
  auto model = std::shared_ptr<AcousticModel>(new AcousticModel());
  model->arch_ = arch;
  const int gh = NumGates(arch.cell) * arch.hidden_size;
  int input = arch.input_size;
  for (int k = 0; k < arch.num_layers; ++k) {
    DirectionWeights dirs[2];
    for (int d = 0; d < (arch.bidirectional ? 2 : 1); ++d) {
      const std::string suffix = LayerName(k, d == 1);
      dirs[d].w_ih = ToMatrix(read("rnn.weight_ih" + suffix, {gh, input}), gh, input);
      dirs[d].w_hh = ToMatrix(read("rnn.weight_hh" + suffix, {gh, arch.hidden_size}), gh, arch.hidden_size);
      dirs[d].b_ih = ToVector(read("rnn.bias_ih" + suffix, {gh}));
      dirs[d].b_hh = ToVector(read("rnn.bias_hh" + suffix, {gh}));
    }
    model->layers_.emplace_back(arch.cell, input, arch.hidden_size, arch.bidirectional, std::move(dirs[0]),
                                std::move(dirs[1]), source + ": rnn layer " + std::to_string(k));
    input = model->layers_.back().OutputSize();
  }
  const int d_out = arch.RnnOutputSize();
  if (arch.head == HeadType::kAttention) {
    const int a = arch.attention_size;
    model->attention_.projection.weight = ToMatrix(read("att.weight", {a, d_out}), a, d_out);
    model->attention_.projection.bias = ToVector(read("att.bias", {a}));
    model->attention_.context = ToVector(read("att.context", {a}));
  }
  const int out_rows = arch.num_classes * arch.ensemble_size;
  model->out_.weight = ToMatrix(read("out.weight", {out_rows, d_out}), out_rows, d_out);
  model->out_.bias = ToVector(read("out.bias", {out_rows}));
  model->labels_.resize(static_cast<size_t>(arch.num_classes));
  for (int c = 0; c < arch.num_classes; ++c) model->labels_[static_cast<size_t>(c)] = std::to_string(c);
  return model;
}

std::shared_ptr<const AcousticModel> AcousticModel::Load(const std::string& path) {
  const SafetensorsFile file = SafetensorsFile::Open(path);
  const auto& meta = file.Metadata();
  auto get = [&](const std::string& key) -> const std::string& {
    auto it = meta.find(key);
    if (it == meta.end()) {
      throw ModelFormatError(path + ": no '" + key + "' in the metadata; not an ossicle model" +
                             (key == "format" ? " (a plain PyTorch export? use `ossicle model import-torch`)" : ""));
    }
    return it->second;
  };
  if (get("format") != kFormat) throw ModelFormatError(path + ": metadata format is not '" + std::string(kFormat) + "'");
  if (get("format_version") != kFormatVersion) {
    throw ModelFormatError(path + ": model format version " + get("format_version") + " is not supported (expected " +
                           kFormatVersion + ")");
  }
  auto parse = [&](const std::string& key) {
    try {
      return nlohmann::json::parse(get(key));
    } catch (const nlohmann::json::exception& e) {
      throw ModelFormatError(path + ": metadata '" + key + "' is not valid JSON (" + e.what() + ")");
    }
  };
  ModelArchitecture arch;
  FeatureConfig features;
  std::vector<std::string> labels;
  try {
    ConfigFromJson(parse("architecture"), arch, path + ": architecture");
    ConfigFromJson(parse("features"), features, path + ": features");
    features.Validate(path + ": features");
    const nlohmann::json l = parse("labels");
    if (!l.is_array()) throw ConfigError(path + ": labels: expected a JSON array of strings");
    for (const auto& x : l) {
      if (!x.is_string()) throw ConfigError(path + ": labels: expected a JSON array of strings");
      labels.push_back(x.get<std::string>());
    }
  } catch (const ConfigError& e) {
    throw ModelFormatError(e.what());
  }
  if (static_cast<int>(labels.size()) != arch.num_classes) {
    throw ModelFormatError(path + ": " + std::to_string(labels.size()) + " labels for " +
                           std::to_string(arch.num_classes) + " classes");
  }
  auto reader = [&](std::string prefix) -> TensorReader {
    return [&file, prefix](const std::string& name, std::vector<int64_t> shape) {
      return file.ReadFloat(prefix + name, shape);
    };
  };
  std::shared_ptr<const AcousticModel> model;
  if (meta.count("ensemble_hidden_sizes")) {
    // An ensemble stored as its members (models/model-ensemble.h): read each, merge them again.
    const nlohmann::json j = parse("ensemble_hidden_sizes");
    std::vector<int64_t> sizes;
    for (const auto& x : j.is_array() ? j : nlohmann::json::array()) {
      sizes.push_back(x.is_number_integer() ? x.get<int64_t>() : 0);
    }
    if (!j.is_array() || !ValidEnsembleHiddenSizes(sizes, arch)) {
      throw ModelFormatError(path + ": metadata ensemble_hidden_sizes = " + j.dump() + "; expected " +
                             std::to_string(arch.ensemble_size) + " sizes >= 1 summing to architecture.hidden_size " +
                             std::to_string(arch.hidden_size) + " (architecture.ensemble_size " +
                             std::to_string(arch.ensemble_size) + ", at least 2)");
    }
    std::vector<EnsembleMember> members;
    for (size_t m = 0; m < sizes.size(); ++m) {
      ModelArchitecture a = arch;
      a.hidden_size = static_cast<int>(sizes[m]);
      a.ensemble_size = 1;
      const std::string name = path + " member " + std::to_string(m);
      members.push_back({name, FromTensors(a, reader(MemberPrefix(m)), name)->WithMetadata(features, labels, "{}")});
    }
    model = EnsembleModels(members);
  } else {
    model = FromTensors(arch, reader(""), path);
  }
  const std::string provenance = meta.count("provenance") ? meta.at("provenance") : "{}";
  return model->WithMetadata(features, labels, provenance);
}

std::shared_ptr<const AcousticModel> AcousticModel::ImportTorch(const std::string& path,
                                                                const FeatureConfig& features,
                                                                std::vector<std::string> labels,
                                                                std::vector<std::string>* ignored) {
  const SafetensorsFile file = SafetensorsFile::Open(path);
  auto shape = [&](const std::string& name) {
    if (!file.Has(name)) {
      throw ModelFormatError(path + ": no tensor '" + name +
                             "'; expected an nn.LSTM or nn.GRU under 'rnn.' and an nn.Linear under 'out.'");
    }
    return file.Info(name).shape;
  };
  ModelArchitecture arch;
  const auto ih0 = shape("rnn.weight_ih_l0");
  const auto hh0 = shape("rnn.weight_hh_l0");
  if (ih0.size() != 2 || hh0.size() != 2 || hh0[1] < 1) {
    throw ModelFormatError(path + ": rnn.weight_ih_l0 and rnn.weight_hh_l0 must be matrices");
  }
  arch.hidden_size = static_cast<int>(hh0[1]);
  arch.input_size = static_cast<int>(ih0[1]);
  if (ih0[0] == 4 * hh0[1]) {
    arch.cell = CellType::kLstm;
  } else if (ih0[0] == 3 * hh0[1]) {
    arch.cell = CellType::kGru;
  } else {
    throw ModelFormatError(path + ": rnn.weight_ih_l0 has " + std::to_string(ih0[0]) + " rows for hidden size " +
                           std::to_string(hh0[1]) + "; expected 4x (LSTM) or 3x (GRU)");
  }
  arch.num_layers = 0;
  while (file.Has("rnn.weight_ih_l" + std::to_string(arch.num_layers))) ++arch.num_layers;
  arch.bidirectional = file.Has("rnn.weight_ih_l0_reverse");
  arch.num_classes = static_cast<int>(shape("out.weight").at(0));
  arch.head = HeadType::kFrame;
  if (file.Has("att.weight")) {
    arch.head = HeadType::kAttention;
    arch.attention_size = static_cast<int>(shape("att.weight").at(0));
  }
  auto model = FromTensors(
      arch, [&](const std::string& name, std::vector<int64_t> s) { return file.ReadFloat(name, s); }, path);
  if (ignored != nullptr) {
    const auto params = ParameterNames(arch);
    const std::set<std::string> used(params.begin(), params.end());
    for (const std::string& name : file.TensorNames()) {
      if (!used.count(name)) ignored->push_back(name);
    }
  }
  if (labels.empty()) {
    for (int c = 0; c < arch.num_classes; ++c) labels.push_back(std::to_string(c));
  }
  if (static_cast<int>(labels.size()) != arch.num_classes) {
    throw ConfigError(std::to_string(labels.size()) + " labels given for a model with " +
                      std::to_string(arch.num_classes) + " classes (" + path + ")");
  }
  nlohmann::json provenance = {{"imported_from", path}};
  return model->WithMetadata(features, labels, provenance.dump());
}

std::shared_ptr<const AcousticModel> AcousticModel::WithMetadata(const FeatureConfig& features,
                                                                 std::vector<std::string> labels,
                                                                 std::string provenance_json) const {
  auto copy = std::make_shared<AcousticModel>(*this);
  copy->features_ = features;
  copy->labels_ = std::move(labels);
  copy->provenance_json_ = std::move(provenance_json);
  return copy;
}

void AcousticModel::Save(const std::string& path) const {
  SafetensorsWriter w(path);
  w.SetMetadata("format", kFormat);
  w.SetMetadata("format_version", kFormatVersion);
  w.SetMetadata("architecture", ConfigToJson(arch_).dump());
  w.SetMetadata("features", ConfigToJson(features_).dump());
  w.SetMetadata("labels", nlohmann::json(labels_).dump());
  w.SetMetadata("provenance", provenance_json_);
  if (arch_.ensemble_size > 1 && !ensemble_hidden_sizes_.empty()) {
    // The members' own tensors, not the merged model's zero blocks (models/model-ensemble.h).
    w.SetMetadata("ensemble_hidden_sizes", nlohmann::json(ensemble_hidden_sizes_).dump());
    const auto members = SplitEnsemble(*this);
    for (size_t m = 0; m < members.size(); ++m) AddTensors(w, *members[m], MemberPrefix(m));
  } else {
    AddTensors(w, *this, "");
  }
  w.Close();
}

void AcousticModel::SetEnsembleHiddenSizes(std::vector<int> sizes) {
  if (!ValidEnsembleHiddenSizes(std::vector<int64_t>(sizes.begin(), sizes.end()), arch_)) {
    throw ConfigError("ensemble_hidden_sizes = " + nlohmann::json(sizes).dump() + "; expected " +
                      std::to_string(arch_.ensemble_size) + " sizes >= 1 summing to hidden_size " +
                      std::to_string(arch_.hidden_size) + " (ensemble_size at least 2)");
  }
  ensemble_hidden_sizes_ = std::move(sizes);
  RebuildMemberStacks();
}

void AcousticModel::RebuildMemberStacks() {
  member_stacks_.clear();
  if (arch_.ensemble_size > 1 && !ensemble_hidden_sizes_.empty()) member_stacks_ = SplitEnsemble(*this);
}

int64_t AcousticModel::NumParameters() const {
  int64_t n = 0;
  if (!member_stacks_.empty()) {  // the members' own values (what the file holds), not the zero blocks
    for (const auto& member : member_stacks_) n += member->NumParameters();
    return n;
  }
  for (const RecurrentLayer& l : layers_) {
    for (int d = 0; d < (l.Bidirectional() ? 2 : 1); ++d) {
      const DirectionWeights& w = l.Weights(d);
      n += w.w_ih.size() + w.w_hh.size() + w.b_ih.size() + w.b_hh.size();
    }
  }
  n += out_.weight.size() + out_.bias.size();
  if (arch_.head == HeadType::kAttention) {
    n += attention_.projection.weight.size() + attention_.projection.bias.size() + attention_.context.size();
  }
  return n;
}

void AcousticModel::CheckFeatures(const FeatureConfig& features, std::string_view what) const {
  const nlohmann::json want = ConfigToJson(features_).flatten();
  const nlohmann::json got = ConfigToJson(features).flatten();
  for (const auto& [key, value] : want.items()) {
    if (!got.contains(key) || got.at(key) != value) {
      std::string k = key.substr(1);
      std::replace(k.begin(), k.end(), '/', '.');
      throw ConfigError(std::string(what) + ": features." + k + " = " + (got.contains(key) ? got.at(key).dump() : "?") +
                        " but the model was trained with " + value.dump());
    }
  }
}

void AcousticModel::ForwardStack(const SequenceBatch& input, SequenceBatch& output,
                                 const std::vector<RecurrentState>* initial, std::vector<RecurrentState>* final_state,
                                 std::span<const int64_t> carry_frames, int num_threads) const {
  if (input.Dim() != arch_.input_size) {
    throw ConfigError("model input has " + std::to_string(input.Dim()) + " values per frame; the model expects " +
                      std::to_string(arch_.input_size));
  }
  if (!member_stacks_.empty()) {
    ForwardMemberStacks(input, output, initial, final_state, carry_frames, num_threads);
    return;
  }
  if (final_state != nullptr) final_state->resize(layers_.size());
  SequenceBatch a, b;
  const SequenceBatch* cur = &input;
  for (size_t k = 0; k < layers_.size(); ++k) {
    SequenceBatch* next = k + 1 == layers_.size() ? &output : (k % 2 == 0 ? &a : &b);
    layers_[k].Forward(*cur, next, initial ? &(*initial)[k] : nullptr, final_state ? &(*final_state)[k] : nullptr,
                       carry_frames, num_threads);
    cur = next;
  }
}

void AcousticModel::ForwardMemberStacks(const SequenceBatch& input, SequenceBatch& output,
                                        const std::vector<RecurrentState>* initial,
                                        std::vector<RecurrentState>* final_state, std::span<const int64_t> carry_frames,
                                        int num_threads) const {
  // Member m owns the merged units [offset, offset + h) of every layer and direction (models/model-ensemble.h),
  // so its states are those columns of the merged states and its outputs go to those columns of each
  // direction's half of the merged output.
  const int64_t merged_h = arch_.hidden_size;
  const int directions = arch_.bidirectional ? 2 : 1;
  const size_t layers = layers_.size();
  if (final_state != nullptr) {
    final_state->assign(layers, RecurrentState{});
    for (RecurrentState& s : *final_state) {
      s.h.resize(input.BatchSize(), merged_h);
      s.c.resize(input.BatchSize(), arch_.cell == CellType::kLstm ? merged_h : 0);
    }
  }
  output.max_frames = input.max_frames;
  output.lengths = input.lengths;
  output.data.resize(input.data.rows(), arch_.RnnOutputSize());
  std::vector<RecurrentState> member_initial, member_final;
  SequenceBatch member_output;
  int64_t offset = 0;
  for (size_t m = 0; m < member_stacks_.size(); ++m) {
    const int64_t h = ensemble_hidden_sizes_[m];
    if (initial != nullptr) {
      member_initial.resize(layers);
      for (size_t k = 0; k < layers; ++k) {
        member_initial[k].h = (*initial)[k].h.middleCols(offset, h);
        const MatrixF& c = (*initial)[k].c;
        member_initial[k].c = c.cols() > 0 ? MatrixF(c.middleCols(offset, h)) : MatrixF(c.rows(), 0);
      }
    }
    member_stacks_[m]->ForwardStack(input, member_output, initial != nullptr ? &member_initial : nullptr,
                                    final_state != nullptr ? &member_final : nullptr, carry_frames, num_threads);
    for (int d = 0; d < directions; ++d) {
      output.data.middleCols(d * merged_h + offset, h) = member_output.data.middleCols(d * h, h);
    }
    for (size_t k = 0; final_state != nullptr && k < layers; ++k) {
      (*final_state)[k].h.middleCols(offset, h) = member_final[k].h;
      if (member_final[k].c.cols() > 0) (*final_state)[k].c.middleCols(offset, h) = member_final[k].c;
    }
    offset += h;
  }
}

void AcousticModel::ForwardHead(const SequenceBatch& rnn_output, ModelOutput& out) const {
  out.logits.max_frames = out.log_probs.max_frames = rnn_output.max_frames;
  out.logits.lengths = out.log_probs.lengths = rnn_output.lengths;
  if (arch_.ensemble_size == 1) {
    out_.Forward(rnn_output.data, out.logits.data);
    LogSoftmaxRows(out.logits.data, out.log_probs.data);
    return;
  }
  // An ensemble: log of the members' mean probabilities, by log-sum-exp over the members' log-softmax.
  const Eigen::Index classes = arch_.num_classes;
  const int members = arch_.ensemble_size;
  MatrixF all, member;
  out_.Forward(rnn_output.data, all);
  std::vector<MatrixF> lp(static_cast<size_t>(members));
  for (int m = 0; m < members; ++m) {
    member = all.middleCols(m * classes, classes);
    LogSoftmaxRows(member, lp[static_cast<size_t>(m)]);
  }
  MatrixF& y = out.log_probs.data;
  y = lp[0];
  for (int m = 1; m < members; ++m) y = y.cwiseMax(lp[static_cast<size_t>(m)]);
  MatrixF sum = MatrixF::Zero(y.rows(), y.cols());
  for (const MatrixF& l : lp) sum.array() += (l - y).array().exp();
  y.array() += (sum.array() / static_cast<float>(members)).log();
  out.logits.data = y;  // already normalised: log_softmax(y) == y
}

ModelOutput AcousticModel::Forward(const SequenceBatch& input, int num_threads) const {
  ModelOutput out;
  ForwardStack(input, out.rnn_output, nullptr, nullptr, {}, num_threads);
  if (arch_.head == HeadType::kFrame) {
    ForwardHead(out.rnn_output, out);
    return out;
  }
  const int64_t batch = input.BatchSize(), frames = input.max_frames;
  out.attention_weights = MatrixF::Zero(batch, frames);
  MatrixF pooled(batch, arch_.RnnOutputSize());
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = input.lengths[static_cast<size_t>(b)];
    if (len == 0) throw ConfigError("attention head: sequence " + std::to_string(b) + " has no frames");
    RowVectorF w, p;
    attention_.Pool(out.rnn_output.data.middleRows(b * frames, len), w, p);
    out.attention_weights.row(b).head(len) = w;
    pooled.row(b) = p;
  }
  out_.Forward(pooled, out.clip_logits);
  LogSoftmaxRows(out.clip_logits, out.clip_log_probs);
  return out;
}

std::shared_ptr<AcousticModel> AcousticModel::Initialize(const ModelArchitecture& arch, const FeatureConfig& features,
                                                         std::vector<std::string> labels, uint64_t seed) {
  arch.Validate();
  features.Validate();
  if (features.Dim() != arch.input_size) {
    throw ConfigError(RuleMessage("architecture", "input_size", arch.input_size,
                                  "the feature dimension " + std::to_string(features.Dim()) +
                                      " (the model reads these features)"));
  }
  if (static_cast<int>(labels.size()) != arch.num_classes) {
    throw ConfigError("model initialisation: " + std::to_string(labels.size()) + " labels for architecture.num_classes = " +
                      std::to_string(arch.num_classes));
  }
  // Uniform draws from the top 24 bits of a 64-bit Mersenne twister: the same values on every platform
  // (std::uniform_real_distribution's algorithm is left to the library).
  std::mt19937_64 rng(seed);
  auto uniform = [&](float bound) {
    const float u = static_cast<float>(rng() >> 40) * 0x1p-24f;  // [0, 1)
    return (2.0f * u - 1.0f) * bound;
  };
  const float k_rnn = 1.0f / std::sqrt(static_cast<float>(arch.hidden_size));
  const float k_in = 1.0f / std::sqrt(static_cast<float>(arch.RnnOutputSize()));
  const float k_att = arch.head == HeadType::kAttention ? 1.0f / std::sqrt(static_cast<float>(arch.attention_size)) : 0;
  auto model = FromTensors(
      arch,
      [&](const std::string& name, std::vector<int64_t> shape) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        const float bound = name.rfind("rnn.", 0) == 0 ? k_rnn : name == "att.context" ? k_att : k_in;
        std::vector<float> v(static_cast<size_t>(n));
        for (float& x : v) x = uniform(bound);
        return v;
      },
      "model initialisation");
  auto copy = std::make_shared<AcousticModel>(*model);
  copy->features_ = features;
  copy->labels_ = std::move(labels);
  return copy;
}

std::vector<ParameterView> AcousticModel::MutableParameters() {
  std::vector<ParameterView> views;
  auto add = [&](std::string name, auto& m) {
    std::vector<int64_t> shape{static_cast<int64_t>(m.rows())};
    if (m.ColsAtCompileTime != 1) shape.push_back(static_cast<int64_t>(m.cols()));
    views.push_back(ParameterView{std::move(name), std::move(shape), {m.data(), static_cast<size_t>(m.size())}});
  };
  for (size_t k = 0; k < layers_.size(); ++k) {
    for (int d = 0; d < (arch_.bidirectional ? 2 : 1); ++d) {
      DirectionWeights& w = layers_[k].MutableWeights(d);
      const std::string suffix = LayerName(static_cast<int>(k), d == 1);
      add("rnn.weight_ih" + suffix, w.w_ih);
      add("rnn.weight_hh" + suffix, w.w_hh);
      add("rnn.bias_ih" + suffix, w.b_ih);
      add("rnn.bias_hh" + suffix, w.b_hh);
    }
  }
  if (arch_.head == HeadType::kAttention) {
    add("att.weight", attention_.projection.weight);
    add("att.bias", attention_.projection.bias);
    add("att.context", attention_.context);
  }
  add("out.weight", out_.weight);
  add("out.bias", out_.bias);
  return views;
}

std::vector<ConstParameterView> AcousticModel::Parameters() const {
  // The mutable views of this object, only read through: one list of names, shapes and order.
  std::vector<ParameterView> views = const_cast<AcousticModel*>(this)->MutableParameters();
  std::vector<ConstParameterView> out;
  out.reserve(views.size());
  for (ParameterView& v : views) out.push_back({std::move(v.name), std::move(v.shape), v.values});
  return out;
}

void AcousticModel::ParametersChanged() {
  for (RecurrentLayer& layer : layers_) layer.WeightsChanged();
  RebuildMemberStacks();
}

SequenceBatch SingleSequence(const MatrixF& frames) {
  SequenceBatch b;
  b.data = frames;
  b.max_frames = frames.rows();
  b.lengths = {static_cast<int64_t>(frames.rows())};
  return b;
}

}  // namespace ossicle
