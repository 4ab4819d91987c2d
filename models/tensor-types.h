// Matrix types of the model library. Sequences are [frames, dims], one frame per row (row-major), the
// layout of feature matrices and of PyTorch's batch_first tensors.
#pragma once

#include <Eigen/Core>

namespace ossicle {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VectorF = Eigen::Matrix<float, Eigen::Dynamic, 1>;
using RowVectorF = Eigen::Matrix<float, 1, Eigen::Dynamic>;

}  // namespace ossicle
