// The element-wise work of one LSTM time step of the training pass (models/training-pass.cc), forward and
// backward, each one pass over the step's rows: the gate activations, the cell and hidden state, and in the
// backward the gate pre-activation gradients and their column sums (the bias gradients). The recurrent
// matrix products stay outside (models/float-gemm.h); these loops do the rest while the rows are in cache.
//
//   // gates [n, 4H] hold x W_ih^T + h_{t-1} W_hh^T; bias = b_ih + b_hh.
//   ossicle::LstmCellForward<float>(n, hidden, bias, gates, c_prev, c_cur, tanh_c, h_cur);
//   ossicle::LstmCellBackward<float>(n, hidden, gates, c_prev, tanh_c, d_out, ld_out, d_h, d_c, d_gates, d_sum);
//
// Gate order i f g o (PyTorch's). Row strides: 4H for the gate matrices, H for the states and d_h / d_c.
// Float runs in SIMD packets (Eigen's logistic and tanh approximations, as Eigen's array expressions use),
// double one value at a time; each row's values depend only on that row's inputs.
#pragma once

#include <cstdint>

namespace ossicle {

// gates: in, the pre-activations without bias; out, the activations i f g o. bias [4H] is added first.
// c_cur = f * c_prev + i * g, tanh_c = tanh(c_cur), h_cur = o * tanh_c.
template <class Scalar>
void LstmCellForward(int64_t n, int64_t hidden, const Scalar* bias, Scalar* gates, const Scalar* c_prev,
                     Scalar* c_cur, Scalar* tanh_c, Scalar* h_cur);

// With dh = d_h + d_out (d loss / d h_t: from step t + 1 and from the layer output, row stride ld_out) and
// d_c = d loss / d c_t from step t + 1: writes d_gates = d loss / d pre-activations (i f g o), adds them to
// d_gates_sum [4H] row by row in order, and sets d_c = d loss / d c_{t-1}. d_h is only read (the caller
// overwrites it with d_gates W_hh).
template <class Scalar>
void LstmCellBackward(int64_t n, int64_t hidden, const Scalar* gates, const Scalar* c_prev, const Scalar* tanh_c,
                      const Scalar* d_out, int64_t ld_out, const Scalar* d_h, Scalar* d_c, Scalar* d_gates,
                      Scalar* d_gates_sum);

extern template void LstmCellForward<float>(int64_t, int64_t, const float*, float*, const float*, float*, float*,
                                            float*);
extern template void LstmCellForward<double>(int64_t, int64_t, const double*, double*, const double*, double*,
                                             double*, double*);
extern template void LstmCellBackward<float>(int64_t, int64_t, const float*, const float*, const float*,
                                             const float*, int64_t, const float*, float*, float*, float*);
extern template void LstmCellBackward<double>(int64_t, int64_t, const double*, const double*, const double*,
                                              const double*, int64_t, const double*, double*, double*, double*);

}  // namespace ossicle
