// Matrix types of the model library. Sequences are [frames, dims], one frame per row (row-major), the
// layout of feature matrices and of PyTorch's batch_first tensors.
#pragma once

#include <Eigen/Core>

namespace ossicle {

// Row-major dynamic matrix of any scalar: float for the model, double for gradient checks.
template <class Scalar>
using BasicMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

using MatrixF = BasicMatrix<float>;
using MatrixD = BasicMatrix<double>;
using VectorF = Eigen::Matrix<float, Eigen::Dynamic, 1>;
using RowVectorF = Eigen::Matrix<float, 1, Eigen::Dynamic>;

}  // namespace ossicle
