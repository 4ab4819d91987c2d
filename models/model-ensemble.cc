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
  if (it == params.end()) throw ModelFormatError("ensemble: member has no tensor '" + name + "'");
  return *it;
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
    const int64_t h = members[mi].model->Architecture().hidden_size;
    const int64_t off = offset[mi];
    // Member gate row r (gate r / h, unit r % h) -> merged row.
    auto row = [&](int64_t r) { return (r / h) * merged_h + off + r % h; };
    // Member column of a layer's output (direction c / h, unit c % h) -> merged column.
    auto unit_col = [&](int64_t c) { return (c / h) * merged_h + off + c % h; };
    for (ParameterView& p : out) {
      const ConstParameterView& src = Find(in, p.name);
      const bool is_out = p.name.rfind("out.", 0) == 0;
      // Head rows: the member's blocks of classes, after the earlier members' blocks.
      auto out_row = [&](int64_t r) { return is_out ? out_offset[mi] + r : row(r); };
      if (p.shape.size() == 1) {  // a bias
        for (int64_t r = 0; r < src.shape[0]; ++r) {
          p.values[static_cast<size_t>(out_row(r))] = src.values[static_cast<size_t>(r)];
        }
        continue;
      }
      const int64_t rows = src.shape[0], cols = src.shape[1], merged_cols = p.shape[1];
      const bool layer0_input = p.name.rfind("rnn.weight_ih_l0", 0) == 0;  // the features: shared columns
      const bool recurrence = p.name.rfind("rnn.weight_hh_", 0) == 0;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t mr = out_row(r);
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t mc = layer0_input ? c : recurrence ? off + c : unit_col(c);
          p.values[static_cast<size_t>(mr * merged_cols + mc)] = src.values[static_cast<size_t>(r * cols + c)];
        }
      }
    }
  }
  merged->ParametersChanged();
  return merged;
}

}  // namespace ossicle
