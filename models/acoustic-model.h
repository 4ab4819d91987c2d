// The acoustic model: a stack of recurrent layers and an output head, loaded from one safetensors file.
//
//   auto model = ossicle::AcousticModel::Load("commands.safetensors");    // shared, immutable
//   ossicle::SequenceBatch x = ossicle::SingleSequence(features);        // [frames, input_size]
//   ossicle::ModelOutput y = model->Forward(x);                          // y.log_probs: [frames, classes]
//
// The file holds the parameters under PyTorch's own state_dict names (rnn.weight_ih_l0,
// rnn.weight_hh_l1_reverse, out.weight, att.weight, ...) and, in its __metadata__:
//   format = "ossicle-model", format_version = "1",
//   architecture = JSON of ModelArchitecture, features = JSON of the FeatureConfig the model was trained on,
//   labels = JSON array of class / token names, provenance = JSON object (free form: data, command, date).
// So a model says how to feed it; CheckFeatures() refuses other features with a clear error.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "features/config-fields.h"
#include "features/feature-config.h"
#include "models/output-layer.h"
#include "models/recurrent-layer.h"

namespace ossicle {

enum class HeadType {
  kFrame,      // Linear + log-softmax on every frame (frame classification, CTC)
  kAttention,  // attention pooling over the frames, then Linear + log-softmax: one decision per clip
};
template <>
struct EnumNames<HeadType> {
  static constexpr std::array kValues{std::pair{HeadType::kFrame, std::string_view{"frame"}},
                                      std::pair{HeadType::kAttention, std::string_view{"attention"}}};
};

struct ModelArchitecture {
  CellType cell = CellType::kLstm;
  int input_size = 40;
  int hidden_size = 128;
  int num_layers = 2;
  bool bidirectional = true;
  int num_classes = 12;
  HeadType head = HeadType::kFrame;
  int attention_size = 0;  // attention head: size A of the projection
  // Frame head only: the head holds this many members' output layers (out.weight has ensemble_size x
  // num_classes rows, member m's block at rows [m * C, (m + 1) * C)) and its log-probabilities are the log of
  // the members' mean probabilities. Made by EnsembleModels (models/model-ensemble.h); not trainable.
  int ensemble_size = 1;

  template <class Self, class V>
  static void Fields(Self& self, V&& v) {
    v(FieldInfo{"cell", "", "recurrent cell"}, self.cell);
    v(FieldInfo{"input_size", "", "feature values per frame"}, self.input_size);
    v(FieldInfo{"hidden_size", "", "hidden units per direction"}, self.hidden_size);
    v(FieldInfo{"num_layers", "", "stacked recurrent layers"}, self.num_layers);
    v(FieldInfo{"bidirectional", "", "forward and backward directions, outputs concatenated"},
      self.bidirectional);
    v(FieldInfo{"num_classes", "", "output classes or CTC tokens (blank included)"}, self.num_classes);
    v(FieldInfo{"head", "", "output head"}, self.head);
    v(FieldInfo{"attention_size", "", "attention head: projection size"}, self.attention_size);
    v(FieldInfo{"ensemble_size", "", "frame head: members whose probabilities are averaged (1 = one model)"},
      self.ensemble_size);
  }
  int RnnOutputSize() const { return hidden_size * (bidirectional ? 2 : 1); }
  void Validate(std::string_view path = "architecture") const;
};

// Float for the model; double for the gradient checks of the training pass (models/training-pass.h).
template <class Scalar>
struct BasicModelOutput {
  BasicSequenceBatch<Scalar> rnn_output;  // [B * T, RnnOutputSize()], zero past each length
  // Frame head: [B * T, C]. Past each length they hold the head applied to the zero rnn output, exactly
  // what PyTorch gives for padded frames; consumers use frames [0, length) only.
  BasicSequenceBatch<Scalar> logits;
  BasicSequenceBatch<Scalar> log_probs;
  BasicMatrix<Scalar> clip_logits;        // attention head: [B, C] (training pass only)
  BasicMatrix<Scalar> clip_log_probs;     // attention head: [B, C]
  BasicMatrix<Scalar> attention_weights;  // attention head: [B, T], zero past each length
};
using ModelOutput = BasicModelOutput<float>;

// One parameter tensor of a model, viewed in place: row-major in PyTorch's layout (weight_ih [G*H, in],
// bias [G*H], out.weight [C, D], ...), `shape` [rows, cols] for matrices and [n] for vectors. `T` is float
// (AcousticModel::MutableParameters) or const float (AcousticModel::Parameters). Valid while the model lives.
template <class T>
struct BasicParameterView {
  std::string name;
  std::vector<int64_t> shape;
  std::span<T> values;
};
using ParameterView = BasicParameterView<float>;
using ConstParameterView = BasicParameterView<const float>;

// Reads a float tensor of the given shape by name; throws ModelFormatError when missing or mis-shaped.
using TensorReader = std::function<std::vector<float>(const std::string& name, std::vector<int64_t> shape)>;

class AcousticModel {
 public:
  // A new model with PyTorch's default initialisation, drawn from a generator seeded with `seed` (the same
  // seed gives the same model on every platform): every LSTM/GRU weight and bias U(-1/sqrt(H), 1/sqrt(H))
  // (nn.LSTM / nn.GRU reset_parameters); out.weight, out.bias and att.weight, att.bias
  // U(-1/sqrt(in), 1/sqrt(in)) (nn.Linear: kaiming_uniform(a=sqrt(5)) gives that bound for the weight);
  // att.context U(-1/sqrt(A), 1/sqrt(A)) (as the weight of an nn.Linear(A, 1)). Tensors are drawn in
  // ParameterNames(arch) order, each row-major. ConfigError when `arch` or `features` is invalid or
  // labels.size() != arch.num_classes.
  static std::shared_ptr<AcousticModel> Initialize(const ModelArchitecture& arch, const FeatureConfig& features,
                                                   std::vector<std::string> labels, uint64_t seed);
  // Builds the model from tensors named as in PyTorch's state_dict. Every shape is checked.
  static std::shared_ptr<const AcousticModel> FromTensors(const ModelArchitecture& arch, const TensorReader& read,
                                                          const std::string& source);
  // Loads an ossicle model file. ModelFormatError names the file, the tensor or key and what is wrong.
  static std::shared_ptr<const AcousticModel> Load(const std::string& path);
  // Imports a plain PyTorch state_dict export (nn.LSTM/nn.GRU under "rnn.", nn.Linear under "out."),
  // inferring the architecture from names and shapes; other tensors are ignored (and listed in
  // `ignored` when given).
  static std::shared_ptr<const AcousticModel> ImportTorch(const std::string& path, const FeatureConfig& features,
                                                          std::vector<std::string> labels,
                                                          std::vector<std::string>* ignored = nullptr);

  void Save(const std::string& path) const;

  const ModelArchitecture& Architecture() const { return arch_; }
  const FeatureConfig& Features() const { return features_; }
  const std::vector<std::string>& Labels() const { return labels_; }
  const std::string& ProvenanceJson() const { return provenance_json_; }
  const std::vector<RecurrentLayer>& Layers() const { return layers_; }
  const Linear& Output() const { return out_; }
  const AttentionPooling& Attention() const { return attention_; }
  // The values the model file holds: for an ensemble with recorded member sizes the sum of its members'
  // (the merged matrices' zero blocks are not parameters).
  int64_t NumParameters() const;

  // A copy with other metadata (the weights are copied too).
  std::shared_ptr<const AcousticModel> WithMetadata(const FeatureConfig& features, std::vector<std::string> labels,
                                                    std::string provenance_json) const;
  // A modifiable copy (e.g. to fine-tune a loaded model).
  std::shared_ptr<AcousticModel> MutableCopy() const { return std::make_shared<AcousticModel>(*this); }
  void SetProvenance(std::string provenance_json) { provenance_json_ = std::move(provenance_json); }
  // An ensemble's members' hidden sizes (models/model-ensemble.h); empty for a single model and for an
  // ensemble read from a dense file. Set: ConfigError unless there are ensemble_size (>= 2) sizes in
  // [1, 65536] summing to hidden_size.
  const std::vector<int>& EnsembleHiddenSizes() const { return ensemble_hidden_sizes_; }
  void SetEnsembleHiddenSizes(std::vector<int> sizes);

  // Every parameter tensor in ParameterNames(Architecture()) order, viewed in place. After writing through
  // MutableParameters(), call ParametersChanged() before the next inference Forward (it refreshes the
  // biases the recurrent layers fuse; the training pass reads the parameters directly and needs no refresh).
  // The views stay valid while the model lives (parameters are never reallocated).
  std::vector<ParameterView> MutableParameters();
  std::vector<ConstParameterView> Parameters() const;
  void ParametersChanged();

  // ConfigError unless `features` equals the configuration the model was trained on (compared field by
  // field; the message names the first differing key).
  void CheckFeatures(const FeatureConfig& features, std::string_view what) const;

  // The whole model over a batch (offline). Input [B * T, input_size]. num_threads >= 2 runs the two
  // directions of bidirectional layers in parallel.
  ModelOutput Forward(const SequenceBatch& input, int num_threads = 1) const;

  // The stack alone, with optional forward-state carry per layer (see RecurrentLayer::Forward).
  void ForwardStack(const SequenceBatch& input, SequenceBatch& output, const std::vector<RecurrentState>* initial,
                    std::vector<RecurrentState>* final_state, std::span<const int64_t> carry_frames,
                    int num_threads = 1) const;
  // The frame head on rnn outputs: logits and log-probabilities.
  void ForwardHead(const SequenceBatch& rnn_output, ModelOutput& out) const;

 private:
  ModelArchitecture arch_;
  FeatureConfig features_;
  std::vector<std::string> labels_;
  std::string provenance_json_ = "{}";
  std::vector<int> ensemble_hidden_sizes_;
  // An ensemble with recorded member sizes runs its members' own stacks (SplitEnsemble), not the merged
  // block-structured matrices: N members cost N times a member instead of about N^2. Rebuilt by
  // SetEnsembleHiddenSizes() and ParametersChanged(); empty otherwise (then the merged layers run).
  std::vector<std::shared_ptr<const AcousticModel>> member_stacks_;
  void RebuildMemberStacks();
  void ForwardMemberStacks(const SequenceBatch& input, SequenceBatch& output,
                           const std::vector<RecurrentState>* initial, std::vector<RecurrentState>* final_state,
                           std::span<const int64_t> carry_frames, int num_threads) const;
  std::vector<RecurrentLayer> layers_;
  Linear out_;
  AttentionPooling attention_;
};

// One sequence [T, dim] as a batch of one.
SequenceBatch SingleSequence(const MatrixF& frames);

// The tensor names of a model with this architecture, in PyTorch's naming.
std::vector<std::string> ParameterNames(const ModelArchitecture& arch);

}  // namespace ossicle
