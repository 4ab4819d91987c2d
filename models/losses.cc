#include "models/losses.h"

#include "features/errors.h"

namespace ossicle {

void CrossEntropyConfig::Validate(std::string_view, int) const {}
void CtcConfig::Validate(std::string_view, int) const {}

LossResult FrameCrossEntropy(const SequenceBatch&, std::span<const int32_t>, const CrossEntropyConfig&, MatrixF*) {
  throw Error("not implemented yet");
}
LossResult FrameCrossEntropy(const SequenceBatchD&, std::span<const int32_t>, const CrossEntropyConfig&, MatrixD*) {
  throw Error("not implemented yet");
}
LossResult ClipCrossEntropy(const MatrixF&, std::span<const int32_t>, const CrossEntropyConfig&, MatrixF*) {
  throw Error("not implemented yet");
}
LossResult ClipCrossEntropy(const MatrixD&, std::span<const int32_t>, const CrossEntropyConfig&, MatrixD*) {
  throw Error("not implemented yet");
}
LossResult CtcLoss(const SequenceBatch&, const std::vector<std::vector<int32_t>>&, const CtcConfig&, MatrixF*) {
  throw Error("not implemented yet");
}
LossResult CtcLoss(const SequenceBatchD&, const std::vector<std::vector<int32_t>>&, const CtcConfig&, MatrixD*) {
  throw Error("not implemented yet");
}

}  // namespace ossicle
