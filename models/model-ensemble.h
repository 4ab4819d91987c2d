// Several trained models as one model file: an ensemble that every consumer (eval, spot, transcribe,
// listen, graphs) runs like any other model.
//
//   std::vector<ossicle::EnsembleMember> members = {{"a.safetensors", AcousticModel::Load("a.safetensors")},
//                                                   {"b.safetensors", AcousticModel::Load("b.safetensors")}};
//   std::shared_ptr<const ossicle::AcousticModel> both = ossicle::EnsembleModels(members);
//   both->Save("ab.safetensors");
//
// The members' recurrent units sit side by side in one wider stack (hidden = the sum of the members'), with
// block-structured weights: a unit of member m reads the features and, in higher layers and in its
// recurrence, only member m's own units (every other weight is zero). The head keeps each member's output
// layer (architecture.ensemble_size blocks of classes) and averages the members' probabilities:
//   log_probs(t) = log( (1/N) * sum_m softmax(logits_m(t)) ).
// The mean of probabilities, not of log-probabilities: CTC members trained apart put their token spikes on
// neighbouring frames, and a geometric mean lets a spike of one member cancel against the other's blank
// (measured: the transcriber lost words that way, docs/models.md). So the merged model computes exactly what
// running the members and averaging their posteriors would, and every consumer (streaming with carried
// states included) runs it like any other model file. When the member sizes are recorded (every ensemble made
// here or loaded from a members file) the stack runs member by member on the members' own matrices
// (AcousticModel::ForwardStack), N times a member's arithmetic; only an ensemble read from a dense file runs
// the merged block matrices (about N^2 times). A member that is itself an ensemble counts as its members. The
// merged model is for inference: training refuses it.
//
// Members must agree on everything but hidden_size: cell, layers, direction, input size, classes, a frame
// head, the feature configuration and the labels. ConfigError naming the member (its name) and the first
// difference otherwise, or when there are fewer than two members.
//
// A saved ensemble stores each member's own tensors (members.<m>.rnn.weight_ih_l0, ...; metadata
// ensemble_hidden_sizes), not the zero blocks: AcousticModel::Save splits it with SplitEnsemble and Load
// merges the members again, so the file is about N times a member's size instead of N^2 times.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "models/acoustic-model.h"

namespace ossicle {

struct EnsembleMember {
  std::string name;  // for messages and the provenance (e.g. the file path)
  std::shared_ptr<const AcousticModel> model;
};

// The merged model. Its provenance is {"ensemble": {"rule": "mean of probabilities", "members": [{"name": ...,
// "hidden_size": ..., "provenance": <the member's provenance>}, ...]}}.
// The merged model records its members' hidden sizes (EnsembleHiddenSizes(), in order, nested ensembles
// flattened) unless a member is an ensemble loaded from a dense file, which does not record them.
std::shared_ptr<const AcousticModel> EnsembleModels(std::span<const EnsembleMember> members);

// The members of a merged model, in order, each a plain model (ensemble_size 1) with the merged model's
// features and labels and its own weights exactly: EnsembleModels of the result gives the same model.
// ConfigError when the model records no member sizes (not an ensemble, or read from a dense file).
std::vector<std::shared_ptr<const AcousticModel>> SplitEnsemble(const AcousticModel& merged);

}  // namespace ossicle
