#include "models/lstm-cell.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include <Eigen/Core>

#include "models/float-gemm.h"

namespace ossicle {

namespace {

// One value at a time, with Eigen's scalar functors (the same formulas as its array expressions).
template <class T>
struct ScalarLanes {
  using V = T;
  static constexpr int64_t kSize = 1;
  static V Load(const T* p) { return *p; }
  static void Store(T* p, V v) { *p = v; }
  static V Set(T x) { return x; }
  static V Add(V a, V b) { return a + b; }
  static V Sub(V a, V b) { return a - b; }
  static V Mul(V a, V b) { return a * b; }
  static V Logistic(V x) { return Eigen::internal::scalar_logistic_op<T>()(x); }
  static V Tanh(V x) { return Eigen::internal::scalar_tanh_op<T>()(x); }
};

// Eigen's widest float packet (8 floats with AVX).
struct FloatPacketLanes {
  using V = Eigen::internal::packet_traits<float>::type;
  static constexpr int64_t kSize = Eigen::internal::packet_traits<float>::size;
  static V Load(const float* p) { return Eigen::internal::ploadu<V>(p); }
  static void Store(float* p, V v) { Eigen::internal::pstoreu(p, v); }
  static V Set(float x) { return Eigen::internal::pset1<V>(x); }
  static V Add(V a, V b) { return Eigen::internal::padd(a, b); }
  static V Sub(V a, V b) { return Eigen::internal::psub(a, b); }
  static V Mul(V a, V b) { return Eigen::internal::pmul(a, b); }
  static V Logistic(V x) { return Eigen::internal::scalar_logistic_op<float>().packetOp(x); }
  static V Tanh(V x) { return Eigen::internal::scalar_tanh_op<float>().packetOp(x); }
};

// Columns [j, end) of one row in steps of L::kSize (end - j a multiple of it); pointers at the row.
template <class L, class T>
void ForwardColumns(int64_t j, int64_t end, int64_t h, const T* bias, const T* rec, T* g, const T* c_prev, T* c_cur,
                    T* tanh_c, T* h_cur) {
  // Pre-activation of gate q: (x W_ih^T + h W_hh^T) + b.
  const auto pre = [&](int64_t q) {
    const int64_t c = q * h + j;
    return L::Add(L::Add(L::Load(g + c), L::Load(rec + c)), L::Load(bias + c));
  };
  for (; j < end; j += L::kSize) {
    const auto i = L::Logistic(pre(0));
    const auto f = L::Logistic(pre(1));
    const auto gg = L::Tanh(pre(2));
    const auto o = L::Logistic(pre(3));
    L::Store(g + j, i);
    L::Store(g + h + j, f);
    L::Store(g + 2 * h + j, gg);
    L::Store(g + 3 * h + j, o);
    const auto c = L::Add(L::Mul(f, L::Load(c_prev + j)), L::Mul(i, gg));
    const auto tc = L::Tanh(c);
    L::Store(c_cur + j, c);
    L::Store(tanh_c + j, tc);
    L::Store(h_cur + j, L::Mul(o, tc));
  }
}

template <class L, class T>
void BackwardColumns(int64_t j, int64_t end, int64_t h, const T* g, const T* c_prev, const T* tanh_c,
                     const T* d_out, const T* d_h, T* d_c, T* dg, T* d_sum) {
  const auto one = L::Set(T(1));
  for (; j < end; j += L::kSize) {
    const auto i = L::Load(g + j), f = L::Load(g + h + j), gg = L::Load(g + 2 * h + j), o = L::Load(g + 3 * h + j);
    const auto tc = L::Load(tanh_c + j);
    const auto dh = L::Add(L::Load(d_h + j), L::Load(d_out + j));
    // d c_t = d c (from t + 1) + dh o (1 - tanh^2 c_t).
    const auto dc = L::Add(L::Load(d_c + j), L::Mul(L::Mul(dh, o), L::Sub(one, L::Mul(tc, tc))));
    const auto d_i = L::Mul(L::Mul(dc, gg), L::Mul(i, L::Sub(one, i)));
    const auto d_f = L::Mul(L::Mul(dc, L::Load(c_prev + j)), L::Mul(f, L::Sub(one, f)));
    const auto d_g = L::Mul(L::Mul(dc, i), L::Sub(one, L::Mul(gg, gg)));
    const auto d_o = L::Mul(L::Mul(dh, tc), L::Mul(o, L::Sub(one, o)));
    L::Store(dg + j, d_i);
    L::Store(dg + h + j, d_f);
    L::Store(dg + 2 * h + j, d_g);
    L::Store(dg + 3 * h + j, d_o);
    L::Store(d_sum + j, L::Add(L::Load(d_sum + j), d_i));
    L::Store(d_sum + h + j, L::Add(L::Load(d_sum + h + j), d_f));
    L::Store(d_sum + 2 * h + j, L::Add(L::Load(d_sum + 2 * h + j), d_g));
    L::Store(d_sum + 3 * h + j, L::Add(L::Load(d_sum + 3 * h + j), d_o));
    L::Store(d_c + j, L::Mul(dc, f));  // d c_{t-1}
  }
}

// Float: packets, then the last H mod packet-size columns one at a time; double: one at a time.
template <class T>
int64_t PacketColumns(int64_t h) {
  if constexpr (std::is_same_v<T, float>) {
    return h - h % FloatPacketLanes::kSize;
  } else {
    return 0;
  }
}

}  // namespace

template <class Scalar>
void LstmCellForward(int64_t n, int64_t hidden, const Scalar* bias, const Scalar* rec, Scalar* gates,
                     const Scalar* c_prev, Scalar* c_cur, Scalar* tanh_c, Scalar* h_cur) {
  const int64_t h = hidden, split = PacketColumns<Scalar>(h);
  for (int64_t r = 0; r < n; ++r) {
    Scalar* g = gates + r * 4 * h;
    const Scalar* rr = rec + r * 4 * h;
    const int64_t o = r * h;
    if constexpr (std::is_same_v<Scalar, float>) {
      ForwardColumns<FloatPacketLanes>(0, split, h, bias, rr, g, c_prev + o, c_cur + o, tanh_c + o, h_cur + o);
    }
    ForwardColumns<ScalarLanes<Scalar>>(split, h, h, bias, rr, g, c_prev + o, c_cur + o, tanh_c + o, h_cur + o);
  }
}

template <class Scalar>
void LstmCellBackward(int64_t n, int64_t hidden, const Scalar* gates, const Scalar* c_prev, const Scalar* tanh_c,
                      const Scalar* d_out, int64_t ld_out, const Scalar* d_h, Scalar* d_c, Scalar* d_gates,
                      Scalar* d_gates_sum, Scalar* d_gates_panels, int64_t panel_stride) {
  const int64_t h = hidden, split = PacketColumns<Scalar>(h);
  constexpr int64_t kWidth = gemm::kPanelWidth;
  for (int64_t r = 0; r < n; ++r) {
    const Scalar* g = gates + r * 4 * h;
    Scalar* dg = d_gates + r * 4 * h;
    const int64_t o = r * h;
    if constexpr (std::is_same_v<Scalar, float>) {
      BackwardColumns<FloatPacketLanes>(0, split, h, g, c_prev + o, tanh_c + o, d_out + r * ld_out, d_h + o, d_c + o,
                                        dg, d_gates_sum);
    }
    BackwardColumns<ScalarLanes<Scalar>>(split, h, h, g, c_prev + o, tanh_c + o, d_out + r * ld_out, d_h + o,
                                         d_c + o, dg, d_gates_sum);
    if (d_gates_panels == nullptr) continue;
    // The row again, in panel layout (from L1).
    for (int64_t c0 = 0; c0 < 4 * h; c0 += kWidth) {
      Scalar* dst = d_gates_panels + (c0 / kWidth) * panel_stride + r * kWidth;
      if (c0 + kWidth <= 4 * h) {
        std::memcpy(dst, dg + c0, kWidth * sizeof(Scalar));  // inlined vector moves (copy_n called memmove)
      } else {
        std::copy(dg + c0, dg + 4 * h, dst);
      }
    }
  }
}

template void LstmCellForward<float>(int64_t, int64_t, const float*, const float*, float*, const float*, float*,
                                     float*, float*);
template void LstmCellForward<double>(int64_t, int64_t, const double*, const double*, double*, const double*,
                                      double*, double*, double*);
template void LstmCellBackward<float>(int64_t, int64_t, const float*, const float*, const float*, const float*,
                                      int64_t, const float*, float*, float*, float*, float*, int64_t);
template void LstmCellBackward<double>(int64_t, int64_t, const double*, const double*, const double*, const double*,
                                       int64_t, const double*, double*, double*, double*, double*, int64_t);

}  // namespace ossicle
