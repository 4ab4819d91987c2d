#include "models/model-ensemble.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "features/errors.h"

namespace ossicle {

namespace {

// The member's copy of a parameter, by name (the names of one architecture are unique).
const ConstParameterView& Find(const std::vector<ConstParameterView>& params, const std::string& name) {
  const auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.name == name; });
  if (it == params.end()) throw ModelFormatError("ensemble: no tensor '" + name + "'");
  return *it;
}

// Where one member's parameters sit in the merged model: its hidden size, the merged hidden size, its first
// merged unit and its first merged output row.
struct MemberBlock {
  int64_t hidden = 0;
  int64_t merged_hidden = 0;
  int64_t unit_offset = 0;
  int64_t out_offset = 0;
};

// Calls fn(member_index, merged_index) for every value of the member's parameter `name` (row-major, shape
// member_shape) with its place in the merged parameter (shape merged_shape). The layout: a member gate row
// r (gate r / h, unit r % h) sits at merged row (r / h) * H + offset + r % h; layer 0 reads the shared
// features (same columns); a recurrence reads the member's own units (columns offset + c); a higher layer
// or the head reads the member's units of each direction (column (c / h) * H + offset + c % h); the head's
// rows are the member's block of classes.
template <typename Fn>
void ForEachBlockEntry(const std::string& name, const std::vector<int64_t>& member_shape,
                       const std::vector<int64_t>& merged_shape, const MemberBlock& b, Fn&& fn) {
  const int64_t h = b.hidden, merged_h = b.merged_hidden, off = b.unit_offset;
  const bool is_out = name.rfind("out.", 0) == 0;
  auto out_row = [&](int64_t r) { return is_out ? b.out_offset + r : (r / h) * merged_h + off + r % h; };
  if (member_shape.size() == 1) {  // a bias
    for (int64_t r = 0; r < member_shape[0]; ++r) fn(static_cast<size_t>(r), static_cast<size_t>(out_row(r)));
    return;
  }
  const int64_t rows = member_shape[0], cols = member_shape[1], merged_cols = merged_shape[1];
  const bool layer0_input = name.rfind("rnn.weight_ih_l0", 0) == 0;  // the features: shared columns
  const bool recurrence = name.rfind("rnn.weight_hh_", 0) == 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t mr = out_row(r);
    for (int64_t c = 0; c < cols; ++c) {
      const int64_t mc = layer0_input ? c : recurrence ? off + c : (c / h) * merged_h + off + c % h;
      fn(static_cast<size_t>(r * cols + c), static_cast<size_t>(mr * merged_cols + mc));
    }
  }
}

void CheckSameKind(const EnsembleMember& first, const EnsembleMember& m) {
  const ModelArchitecture& a = first.model->Architecture();
  const ModelArchitecture& b = m.model->Architecture();
  auto differ = [&](const char* what, const std::string& x, const std::string& y) {
    throw ConfigError("ensemble member " + m.name + ": " + what + " is " + y + " but " + first.name + " has " + x +
                      "; members must agree on everything but hidden_size");
  };
  if (a.cell != b.cell) {
    differ("the cell", std::string(EnumToString(a.cell)), std::string(EnumToString(b.cell)));
  }
  if (a.num_classes != b.num_classes) {
    differ("num_classes", std::to_string(a.num_classes), std::to_string(b.num_classes));
  }
  if (a.num_layers != b.num_layers) differ("num_layers", std::to_string(a.num_layers), std::to_string(b.num_layers));
  if (a.bidirectional != b.bidirectional) {
    differ("bidirectional", a.bidirectional ? "true" : "false", b.bidirectional ? "true" : "false");
  }
  if (a.input_size != b.input_size) differ("input_size", std::to_string(a.input_size), std::to_string(b.input_size));
  if (first.model->Labels() != m.model->Labels()) {
    const nlohmann::json la = first.model->Labels(), lb = m.model->Labels();
    differ("the label list", la.dump(), lb.dump());
  }
  try {
    first.model->CheckFeatures(m.model->Features(), "its features against " + first.name + "'s");
  } catch (const ConfigError& e) {
    throw ConfigError("ensemble member " + m.name + ": " + e.what());
  }
}

}  // namespace

std::shared_ptr<const AcousticModel> EnsembleModels(std::span<const EnsembleMember> members) {
  if (members.size() < 2) {
    throw ConfigError("ensemble: " + std::to_string(members.size()) + " member(s); expected at least two models");
  }
  for (const EnsembleMember& m : members) {
    if (!m.model) throw ConfigError("ensemble member " + m.name + ": no model");
    if (m.model->Architecture().head != HeadType::kFrame) {
      throw ConfigError("ensemble member " + m.name + ": has an attention head; only frame-head models can be merged");
    }
  }
  for (size_t i = 1; i < members.size(); ++i) CheckSameKind(members[0], members[i]);

  const ModelArchitecture& a0 = members[0].model->Architecture();
  ModelArchitecture arch = a0;
  arch.hidden_size = 0;
  arch.ensemble_size = 0;
  std::vector<int64_t> offset;      // first merged unit of each member
  std::vector<int64_t> out_offset;  // first merged output row of each member
  for (const EnsembleMember& m : members) {
    offset.push_back(arch.hidden_size);
    out_offset.push_back(static_cast<int64_t>(arch.ensemble_size) * arch.num_classes);
    arch.hidden_size += m.model->Architecture().hidden_size;
    arch.ensemble_size += m.model->Architecture().ensemble_size;
  }
  if (arch.ensemble_size > 64) {
    throw ConfigError("ensemble: " + std::to_string(arch.ensemble_size) + " members in all; at most 64");
  }
  const int64_t merged_h = arch.hidden_size;

  nlohmann::json list = nlohmann::json::array();
  for (const EnsembleMember& m : members) {
    nlohmann::json prov = nlohmann::json::parse(m.model->ProvenanceJson(), nullptr, /*allow_exceptions=*/false);
    if (prov.is_discarded()) prov = m.model->ProvenanceJson();
    list.push_back({{"name", m.name}, {"hidden_size", m.model->Architecture().hidden_size}, {"provenance", prov}});
  }
  const nlohmann::json provenance = {{"ensemble", {{"rule", "mean of probabilities"}, {"members", list}}}};

  std::shared_ptr<AcousticModel> merged =
      AcousticModel::Initialize(arch, members[0].model->Features(), members[0].model->Labels(), /*seed=*/0);
  merged->SetProvenance(provenance.dump());
  std::vector<ParameterView> out = merged->MutableParameters();
  for (ParameterView& p : out) std::fill(p.values.begin(), p.values.end(), 0.0f);

  for (size_t mi = 0; mi < members.size(); ++mi) {
    const std::vector<ConstParameterView> in = members[mi].model->Parameters();
    const MemberBlock block{members[mi].model->Architecture().hidden_size, merged_h, offset[mi], out_offset[mi]};
    for (ParameterView& p : out) {
      const ConstParameterView& src = Find(in, p.name);
      ForEachBlockEntry(p.name, src.shape, p.shape, block, [&](size_t member_index, size_t merged_index) {
        p.values[merged_index] = src.values[member_index];
      });
    }
  }
  std::vector<int> hidden_sizes;  // the flat list of members, when every member's is known
  for (const EnsembleMember& m : members) {
    const ModelArchitecture& a = m.model->Architecture();
    const std::vector<int>& sizes = m.model->EnsembleHiddenSizes();
    if (a.ensemble_size == 1) {
      hidden_sizes.push_back(a.hidden_size);
    } else if (!sizes.empty()) {
      hidden_sizes.insert(hidden_sizes.end(), sizes.begin(), sizes.end());
    } else {
      hidden_sizes.clear();  // a member read from a dense ensemble file: its blocks are not recorded
      break;
    }
  }
  if (!hidden_sizes.empty()) merged->SetEnsembleHiddenSizes(hidden_sizes);
  merged->ParametersChanged();
  return merged;
}

std::vector<std::shared_ptr<const AcousticModel>> SplitEnsemble(const AcousticModel& merged) {
  const ModelArchitecture& arch = merged.Architecture();
  const std::vector<int>& sizes = merged.EnsembleHiddenSizes();
  if (arch.ensemble_size < 2 || sizes.empty()) {
    throw ConfigError("split ensemble: the model is not an ensemble with recorded member sizes (ensemble_size " +
                      std::to_string(arch.ensemble_size) + ")");
  }
  const std::vector<ConstParameterView> in = merged.Parameters();
  std::vector<std::shared_ptr<const AcousticModel>> members;
  int64_t offset = 0;
  for (size_t mi = 0; mi < sizes.size(); ++mi) {
    ModelArchitecture a = arch;
    a.hidden_size = sizes[mi];
    a.ensemble_size = 1;
    std::shared_ptr<AcousticModel> member = AcousticModel::Initialize(a, merged.Features(), merged.Labels(), 0);
    const MemberBlock block{sizes[mi], arch.hidden_size, offset, static_cast<int64_t>(mi) * arch.num_classes};
    for (ParameterView& p : member->MutableParameters()) {
      const ConstParameterView& src = Find(in, p.name);
      ForEachBlockEntry(p.name, p.shape, src.shape, block, [&](size_t member_index, size_t merged_index) {
        p.values[member_index] = src.values[merged_index];
      });
    }
    member->ParametersChanged();
    members.push_back(member);
    offset += sizes[mi];
  }
  return members;
}

}  // namespace ossicle
