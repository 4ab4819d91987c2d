// The element-wise work of one LSTM time step of the training pass (models/training-pass.cc), forward and
// backward, each one pass over the step's rows: the gate activations, the cell and hidden state, and in the
// backward the gate pre-activation gradients and their column sums (the bias gradients). The recurrent
// matrix products stay outside (models/float-gemm.h); these loops do the rest while the rows are in cache.
//
//   // gates [n, 4H] hold x W_ih^T, rec [n, 4H] h_{t-1} W_hh^T; bias = b_ih + b_hh.
//   ossicle::LstmCellForward<float>(n, hidden, bias, rec, gates, c_prev, c_cur, tanh_c, h_cur);
//   ossicle::LstmCellBackward<float>(n, hidden, gates, c_prev, tanh_c, d_out, ld_out, d_h, d_c, d_gates, d_sum,
//                                    nullptr, 0);
//
// Gate order i f g o (PyTorch's). Row strides: 4H for the gate matrices, H for the states and d_h / d_c.
// Float runs in SIMD packets (Eigen's logistic and tanh approximations, as Eigen's array expressions use),
// double one value at a time; each row's values depend only on that row's inputs.
#pragma once

#include <cstdint>

namespace ossicle {

// gates: in, x W_ih^T; out, the activations i f g o of the pre-activations (gates + rec) + bias, rec the
// recurrent part h_{t-1} W_hh^T. c_cur = f * c_prev + i * g, tanh_c = tanh(c_cur), h_cur = o * tanh_c.
template <class Scalar>
void LstmCellForward(int64_t n, int64_t hidden, const Scalar* bias, const Scalar* rec, Scalar* gates,
                     const Scalar* c_prev, Scalar* c_cur, Scalar* tanh_c, Scalar* h_cur);

// With dh = d_h + d_out (d loss / d h_t: from step t + 1 and from the layer output, row stride ld_out) and
// d_c = d loss / d c_t from step t + 1: writes d_gates = d loss / d pre-activations (i f g o), adds them to
// d_gates_sum [4H] row by row in order, and sets d_c = d loss / d c_{t-1}. d_h is only read (the caller
// overwrites it with d_gates W_hh). With d_gates_panels, d_gates is also written there in the layout of
// gemm::PackedMatrix (column panels of 16, row r of panel p at p * panel_stride + 16 r), for the weight
// gradients.
template <class Scalar>
void LstmCellBackward(int64_t n, int64_t hidden, const Scalar* gates, const Scalar* c_prev, const Scalar* tanh_c,
                      const Scalar* d_out, int64_t ld_out, const Scalar* d_h, Scalar* d_c, Scalar* d_gates,
                      Scalar* d_gates_sum, Scalar* d_gates_panels, int64_t panel_stride);

extern template void LstmCellForward<float>(int64_t, int64_t, const float*, const float*, float*, const float*,
                                            float*, float*, float*);
extern template void LstmCellForward<double>(int64_t, int64_t, const double*, const double*, double*,
                                             const double*, double*, double*, double*);
extern template void LstmCellBackward<float>(int64_t, int64_t, const float*, const float*, const float*,
                                             const float*, int64_t, const float*, float*, float*, float*, float*,
                                             int64_t);
extern template void LstmCellBackward<double>(int64_t, int64_t, const double*, const double*, const double*,
                                              const double*, int64_t, const double*, double*, double*, double*,
                                              double*, int64_t);

}  // namespace ossicle
