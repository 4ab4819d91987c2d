#include "models/training-pass.h"

#include <algorithm>
#include <exception>
#include <string>
#include <type_traits>

#include "features/errors.h"
#include "models/float-gemm.h"
#include "models/lstm-cell.h"
#include "models/paired-thread.h"

namespace ossicle {

void TrainingPassConfig::Validate(std::string_view path) const {
  if (!(dropout >= 0.0f && dropout < 1.0f)) throw ConfigError(RuleMessage(path, "dropout", dropout, "in [0, 1)"));
  if (num_threads < 1 || num_threads > 64) {
    throw ConfigError(RuleMessage(path, "num_threads", num_threads, "between 1 and 64"));
  }
}

namespace {

// y = log_softmax(x) on rows [r0, r1); y has x's shape.
template <class Scalar>
void LogSoftmaxRows(const BasicMatrix<Scalar>& x, BasicMatrix<Scalar>& y, Eigen::Index r0, Eigen::Index r1) {
  for (Eigen::Index r = r0; r < r1; ++r) {
    const Scalar m = x.row(r).maxCoeff();
    const Scalar lse = m + std::log((x.row(r).array() - m).exp().sum());
    y.row(r) = x.row(r).array() - lse;
  }
}

template <class Scalar>
void LogSoftmaxInto(const BasicMatrix<Scalar>& x, BasicMatrix<Scalar>& y) {
  y.resize(x.rows(), x.cols());
  LogSoftmaxRows(x, y, 0, x.rows());
}

// dst += the column sums of m, summing rows in order. (Eigen's colwise().sum() into an unaligned
// destination adds some columns in another order than others, so results would depend on where the
// gradient buffers happen to be allocated.)
template <class Mat, class Dst>
void AddColumnSums(const Mat& m, Dst&& dst) {
  for (Eigen::Index r = 0; r < m.rows(); ++r) dst += m.row(r);
}

}  // namespace

template <class Scalar>
struct BasicTrainingPass<Scalar>::Impl {
  // Float uses the packed kernels of models/float-gemm.h; double (gradient checks) Eigen's products.
  static constexpr bool kFloat = std::is_same_v<Scalar, float>;
  using M = BasicMatrix<Scalar>;
  using Row = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;
  using CMap = Eigen::Map<const M>;
  using MMap = Eigen::Map<M>;
  using CRow = Eigen::Map<const Row>;
  using MRow = Eigen::Map<Row>;

  // The tensors of one direction of one layer, viewed in place (parameters or their gradients).
  template <class Mat, class Vec>
  struct DirectionTensors {
    Mat w_ih, w_hh;
    Vec b_ih, b_hh;
  };
  using DirectionParams = DirectionTensors<CMap, CRow>;
  using DirectionGrads = DirectionTensors<MMap, MRow>;

  // Per direction, in the direction's own step-major layout: row s * B + i is step s of the i-th longest
  // sequence (for the reverse direction step s is frame len - 1 - s). Rows of sequences that have ended
  // are kept at zero, so products over all rows are exact.
  struct Direction {
    M x_local;  // reverse direction: the layer input in this layout [rows, in]
    M gates;    // activations: LSTM i f g o; GRU r z n [rows, G]
    M hidden;   // [rows + B, H]: block 0 the initial zeros, block s + 1 the state after step s
    M cell;     // LSTM, as hidden
    M tanh_cell;  // LSTM: tanh(c) after step s in row block s [rows, H]
    M hn;       // GRU: W_hn h_{s-1} + b_hn [rows, H]
    M rec;      // per-step scratch: h_{s-1} W_hh^T [B, G]
    Row bias;   // input-side bias: b_ih plus the b_hh terms that are not gated
    // Backward: LSTM d pre-activations [rows, G]; GRU the hidden-side ones d(W_h* h + b_h*) = [dr dz dhn].
    M d_gates;
    M d_xn;     // GRU: d pre-activation of n on the input side [rows, H]
    // Float: the column sums of d_gates [G] and d_xn [H] (bias gradients), added step by step while the
    // rows are in cache.
    Row d_gates_sum, d_xn_sum;
    M d_out;    // reverse direction: d output in this layout [rows, H]
    M d_h, d_c; // [B, H] gradients carried to the previous step
    M d_x;      // reverse direction: d input in this layout [rows, in]
    // Float only (models/float-gemm.h): the weights packed for the products of this pass. Forward: W_ih^T,
    // W_hh^T; backward: W_hh and W_ih (GRU: W_ih's r|z rows, then its n rows).
    gemm::PackedMatrix w_ih_t, w_hh_t, w_hh_b, w_ih_b, w_ih_b2;
    gemm::PackedMatrix d_gates_packed;  // LSTM: d_gates again, packed as the weight gradients read it
    std::vector<float> scratch;  // AddTransposedProduct's packed blocks
  };
  struct Layer {
    int in = 0;
    M input;  // time-major [rows, in]: row t * B + i is frame t of the i-th longest sequence; after dropout
    M mask;   // dropout multipliers applied to `input` (layers >= 1, when dropout ran)
    bool dropped = false;
    Direction dirs[2];
  };

  ModelArchitecture arch;
  TrainingPassConfig config;
  int hidden = 0, gates = 0, num_dirs = 1;
  bool lstm = true;

  std::vector<const Scalar*> params;
  bool have_forward = false;
  int64_t batch = 0, frames = 0, longest = 0, rows = 0;
  std::vector<int64_t> lengths, order, active;
  std::vector<int64_t> position;  // position[b]: the i with order[i] == b
  // num_threads >= 2: the second thread; the directions of a layer run on the two threads, and the work
  // between layers is split over them by sequences (each row computed alone, so results do not depend on
  // the split).
  std::unique_ptr<PairedThread> pair;
  std::vector<Layer> layers;
  M top;    // the top layer's output, time-major [rows, D]
  M att_z;  // attention head: tanh(W h + b) [B * T, A]
  M pooled; // attention head: [B, D]
  BasicModelOutput<Scalar> out;
  // Backward scratch.
  M d_logits, d_rnn, d_top, d_z;
  M d_buffers[2];
  // Float: the output layer packed (forward W_out^T, backward W_out) and AddTransposedProduct's scratch.
  gemm::PackedMatrix w_out_t, w_out_b;
  std::vector<float> head_scratch;

  Impl(const ModelArchitecture& a, TrainingPassConfig c) : arch(a), config(c) {
    arch.Validate();
    if (arch.ensemble_size != 1) {
      throw ConfigError("architecture.ensemble_size = " + std::to_string(arch.ensemble_size) +
                        ": an ensemble model is for inference; train its members and merge them with `ossicle "
                        "model ensemble`");
    }
    config.Validate();
    hidden = arch.hidden_size;
    gates = NumGates(arch.cell) * hidden;
    num_dirs = arch.bidirectional ? 2 : 1;
    lstm = arch.cell == CellType::kLstm;
    layers.resize(static_cast<size_t>(arch.num_layers));
    for (int k = 0; k < arch.num_layers; ++k) {
      layers[static_cast<size_t>(k)].in = k == 0 ? arch.input_size : arch.RnnOutputSize();
    }
    if (config.num_threads >= 2) pair = std::make_unique<PairedThread>();
  }

  // Runs a and b, in parallel when there is a second thread.
  template <class A, class B>
  void RunPair(A&& a, B&& b) {
    if (pair == nullptr) {
      a();
      b();
      return;
    }
    pair->Run(a, b);
  }
  // The directions of layer k: in parallel when there are two and a second thread.
  template <class F>
  void RunDirections(F&& f) {
    if (!arch.bidirectional) {
      f(0);
      return;
    }
    RunPair([&] { f(0); }, [&] { f(1); });
  }
  // f(begin, end) over [0, n), in two halves when there is a second thread.
  template <class F>
  void Split(int64_t n, F&& f) {
    if (pair == nullptr || n < 2) {
      f(int64_t{0}, n);
      return;
    }
    RunPair([&] { f(int64_t{0}, n / 2); }, [&] { f(n / 2, n); });
  }

  size_t NumTensors() const {
    return static_cast<size_t>(arch.num_layers * num_dirs * 4 + (arch.head == HeadType::kAttention ? 3 : 0) + 2);
  }
  size_t Base(int k, int d) const { return static_cast<size_t>((k * num_dirs + d) * 4); }
  size_t HeadBase() const { return static_cast<size_t>(arch.num_layers * num_dirs * 4); }
  size_t OutBase() const { return HeadBase() + (arch.head == HeadType::kAttention ? 3 : 0); }
  int D() const { return arch.RnnOutputSize(); }
  int C() const { return arch.num_classes; }
  int A() const { return arch.attention_size; }

  DirectionParams Params(int k, int d) const {
    const size_t b = Base(k, d);
    const int in = layers[static_cast<size_t>(k)].in;
    return {CMap(params[b], gates, in), CMap(params[b + 1], gates, hidden), CRow(params[b + 2], gates),
            CRow(params[b + 3], gates)};
  }
  DirectionGrads Grads(std::span<Scalar* const> g, int k, int d) const {
    const size_t b = Base(k, d);
    const int in = layers[static_cast<size_t>(k)].in;
    return {MMap(g[b], gates, in), MMap(g[b + 1], gates, hidden), MRow(g[b + 2], gates), MRow(g[b + 3], gates)};
  }

  int64_t Len(int64_t i) const { return lengths[static_cast<size_t>(order[static_cast<size_t>(i)])]; }
  // Row in the time-major layout of step s of the i-th longest sequence in direction d.
  int64_t TimeRow(int d, int64_t s, int64_t i) const { return (d == 1 ? Len(i) - 1 - s : s) * batch + i; }

  void Setup(const BasicSequenceBatch<Scalar>& input) {
    batch = input.BatchSize();
    frames = input.max_frames;
    if (frames < 0 || input.data.rows() != batch * frames) {
      throw ConfigError("training pass: input has " + std::to_string(input.data.rows()) + " rows for " +
                        std::to_string(batch) + " sequences of " + std::to_string(frames) + " frames");
    }
    if (input.Dim() != arch.input_size) {
      throw ConfigError("training pass: input has " + std::to_string(input.Dim()) +
                        " values per frame; the model expects " + std::to_string(arch.input_size));
    }
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = input.lengths[static_cast<size_t>(b)];
      if (len < 0 || len > frames) {
        throw ConfigError("training pass: sequence " + std::to_string(b) + " has length " + std::to_string(len) +
                          "; expected in [0, " + std::to_string(frames) + "]");
      }
      if (len == 0 && arch.head == HeadType::kAttention) {
        throw ConfigError("training pass: attention head: sequence " + std::to_string(b) + " has no frames");
      }
    }
    lengths = input.lengths;
    order.resize(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) order[static_cast<size_t>(b)] = b;
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
      return lengths[static_cast<size_t>(x)] > lengths[static_cast<size_t>(y)];
    });
    position.resize(static_cast<size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) position[static_cast<size_t>(order[static_cast<size_t>(i)])] = i;
    longest = batch > 0 ? Len(0) : 0;
    rows = longest * batch;
    active.assign(static_cast<size_t>(longest), 0);
    for (int64_t s = 0; s < longest; ++s) {
      int64_t n = 0;
      while (n < batch && Len(n) > s) ++n;
      active[static_cast<size_t>(s)] = n;
    }
  }

  // Zeroes the rows of ended sequences in a time- or step-major matrix (row s * B + i, i >= active[s]).
  void ZeroInactive(M& m, int64_t first_block = 0) const {
    for (int64_t s = 0; s < longest; ++s) {
      const int64_t n = active[static_cast<size_t>(s)];
      if (n < batch) m.middleRows((s + first_block) * batch + n, batch - n).setZero();
    }
  }

  void ForwardDirection(int k, int d, M& output) {
    Layer& layer = layers[static_cast<size_t>(k)];
    Direction& dir = layer.dirs[d];
    const DirectionParams p = Params(k, d);
    const int h = hidden;
    const M* x = &layer.input;
    if (d == 1) {
      dir.x_local.resize(rows, layer.in);
      ZeroInactive(dir.x_local);
      for (int64_t i = 0; i < batch; ++i) {
        for (int64_t s = 0; s < Len(i); ++s) dir.x_local.row(s * batch + i) = layer.input.row(TimeRow(1, s, i));
      }
      x = &dir.x_local;
    }
    dir.bias = p.b_ih;
    if (lstm) {
      dir.bias += p.b_hh;
    } else {  // GRU: b_hn stays inside r * (W_hn h + b_hn)
      dir.bias.head(2 * h) += p.b_hh.head(2 * h);
    }
    dir.gates.resize(rows, gates);
    if constexpr (kFloat) {
      dir.w_ih_t.Pack(p.w_ih.data(), layer.in, true, layer.in, gates);
      dir.w_hh_t.Pack(p.w_hh.data(), h, true, h, gates);
      gemm::MultiplyPacked(rows, x->data(), layer.in, dir.w_ih_t, dir.gates.data(), gates, false);
    } else {
      dir.gates.noalias() = *x * p.w_ih.transpose();
    }
    // LSTM: the bias is added with the activations (models/lstm-cell.h), step by step.
    if (!lstm) dir.gates.rowwise() += dir.bias;
    dir.hidden.resize(rows + batch, h);
    dir.hidden.topRows(batch).setZero();
    ZeroInactive(dir.hidden, 1);
    if (lstm) {
      dir.cell.resize(rows + batch, h);
      dir.cell.topRows(batch).setZero();
      ZeroInactive(dir.cell, 1);
      dir.tanh_cell.resize(rows, h);
    } else {
      dir.hn.resize(rows, h);
    }
    dir.rec.resize(batch, gates);
    for (int64_t s = 0; s < longest; ++s) {
      const int64_t n = active[static_cast<size_t>(s)];
      auto h_prev = dir.hidden.middleRows(s * batch, n);
      auto h_cur = dir.hidden.middleRows((s + 1) * batch, n);
      auto g = dir.gates.middleRows(s * batch, n);
      if (lstm) {
        // The recurrent part of the pre-activations, into a small buffer that stays in cache (accumulating
        // into g made the product wait on g's rows from memory); the cell adds the parts and the bias.
        auto rec = dir.rec.topRows(n);
        if constexpr (kFloat) {
          gemm::MultiplyPacked(n, h_prev.data(), h, dir.w_hh_t, rec.data(), gates, false);
        } else {
          rec.noalias() = h_prev * p.w_hh.transpose();
        }
        LstmCellForward<Scalar>(n, h, dir.bias.data(), rec.data(), g.data(), dir.cell.row(s * batch).data(),
                                dir.cell.row((s + 1) * batch).data(), dir.tanh_cell.row(s * batch).data(),
                                h_cur.data());
      } else {
        auto r = dir.rec.topRows(n);
        if constexpr (kFloat) {
          gemm::MultiplyPacked(n, h_prev.data(), h, dir.w_hh_t, r.data(), gates, false);
        } else {
          r.noalias() = h_prev * p.w_hh.transpose();
        }
        auto hn = dir.hn.middleRows(s * batch, n);
        hn = r.rightCols(h);
        hn.rowwise() += p.b_hh.tail(h);  // W_hn h + b_hn
        g.leftCols(2 * h) += r.leftCols(2 * h);
        g.leftCols(2 * h).array() = g.leftCols(2 * h).array().logistic();  // r | z
        g.rightCols(h).array() = (g.rightCols(h).array() + g.leftCols(h).array() * hn.array()).tanh();
        h_cur.array() = (Scalar(1) - g.middleCols(h, h).array()) * g.rightCols(h).array() +
                        g.middleCols(h, h).array() * h_prev.array();
      }
    }
    // The output columns of this direction, time-major, zero past each length.
    if (d == 0) {
      output.middleCols(0, h) = dir.hidden.bottomRows(rows);
    } else {
      for (int64_t i = 0; i < batch; ++i) {
        for (int64_t s = 0; s < Len(i); ++s) {
          output.row(TimeRow(1, s, i)).segment(h, h) = dir.hidden.row((s + 1) * batch + i);
        }
      }
      for (int64_t t = 0; t < longest; ++t) {
        const int64_t n = active[static_cast<size_t>(t)];
        if (n < batch) output.block(t * batch + n, h, batch - n, h).setZero();
      }
    }
  }

  void Forward(std::span<const Scalar* const> parameters, const BasicSequenceBatch<Scalar>& input,
               std::mt19937_64* rng) {
    have_forward = false;
    if (parameters.size() != NumTensors()) {
      throw ConfigError("training pass: " + std::to_string(parameters.size()) + " parameter tensors; the model has " +
                        std::to_string(NumTensors()));
    }
    params.assign(parameters.begin(), parameters.end());
    Setup(input);

    // The input, time-major.
    Layer& first = layers[0];
    first.input.resize(rows, arch.input_size);
    Split(batch, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t b = order[static_cast<size_t>(i)];
        for (int64_t t = 0; t < longest; ++t) {
          if (t < Len(i)) {
            first.input.row(t * batch + i) = input.data.row(b * frames + t);
          } else {
            first.input.row(t * batch + i).setZero();
          }
        }
      }
    });

    const bool dropout = rng != nullptr && config.dropout > 0.0f;
    for (int k = 0; k < arch.num_layers; ++k) {
      const bool last = k + 1 == arch.num_layers;
      M& output = last ? top : layers[static_cast<size_t>(k) + 1].input;
      output.resize(rows, D());
      RunDirections([&](int d) { ForwardDirection(k, d, output); });
      if (!last) {
        Layer& next = layers[static_cast<size_t>(k) + 1];
        next.dropped = dropout;
        if (dropout) ApplyDropout(next, *rng);
      }
    }
    ForwardHead();
    have_forward = true;
  }

  // Inverted dropout: each value kept with probability 1 - p and then scaled by 1 / (1 - p). Two decisions
  // per 64-bit draw (p resolved to 2^-32), over all rows in order, so the same generator state gives the
  // same mask.
  void ApplyDropout(Layer& layer, std::mt19937_64& rng) {
    const double p = static_cast<double>(config.dropout);
    const uint64_t threshold = static_cast<uint64_t>(p * 4294967296.0);
    const Scalar keep_scale = static_cast<Scalar>(1.0 / (1.0 - p));
    layer.mask.resize(layer.input.rows(), layer.input.cols());
    Scalar* m = layer.mask.data();
    const Eigen::Index size = layer.mask.size();
    for (Eigen::Index j = 0; j < size; j += 2) {
      const uint64_t bits = rng();
      m[j] = (bits & 0xffffffffu) >= threshold ? keep_scale : Scalar(0);
      if (j + 1 < size) m[j + 1] = (bits >> 32) >= threshold ? keep_scale : Scalar(0);
    }
    layer.input.array() *= layer.mask.array();
  }

  void ForwardHead() {
    const int64_t bt = batch * frames;
    // The top layer's output, batch-major, zero past each length.
    M& y = out.rnn_output.data;
    y.resize(bt, D());
    out.rnn_output.max_frames = out.logits.max_frames = out.log_probs.max_frames = frames;
    out.rnn_output.lengths = out.logits.lengths = out.log_probs.lengths = lengths;
    const size_t o = OutBase();
    const CMap w_out(params[o], C(), D());
    const CRow b_out(params[o + 1], C());
    const bool frame_head = arch.head == HeadType::kFrame;
    if (frame_head) {
      out.logits.data.resize(bt, C());
      out.log_probs.data.resize(bt, C());
      if constexpr (kFloat) w_out_t.Pack(w_out.data(), D(), true, D(), C());
    }
    // Sequences [b0, b1): their output rows, batch-major and zero past each length; frame head: their
    // logits and log-probabilities.
    Split(batch, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t i = position[static_cast<size_t>(b)], len = Len(i);
        for (int64_t t = 0; t < len; ++t) y.row(b * frames + t) = top.row(t * batch + i);
        y.middleRows(b * frames + len, frames - len).setZero();
      }
      if (!frame_head) return;
      const int64_t r0 = b0 * frames, n = (b1 - b0) * frames;
      auto logits = out.logits.data.middleRows(r0, n);
      if constexpr (kFloat) {
        gemm::MultiplyPacked(n, y.data() + r0 * D(), D(), w_out_t, logits.data(), C(), false);
      } else {
        logits.noalias() = y.middleRows(r0, n) * w_out.transpose();
      }
      logits.rowwise() += b_out;
      LogSoftmaxRows(out.logits.data, out.log_probs.data, r0, r0 + n);
    });
    if (frame_head) {
      out.clip_logits.resize(0, 0);
      out.clip_log_probs.resize(0, 0);
      out.attention_weights.resize(0, 0);
      return;
    }
    out.logits.data.resize(0, C());
    out.log_probs.data.resize(0, C());
    const size_t a = HeadBase();
    const CMap w_att(params[a], A(), D());
    const CRow b_att(params[a + 1], A());
    const Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> v(params[a + 2], A());
    att_z.noalias() = y * w_att.transpose();
    att_z.rowwise() += b_att;
    att_z.array() = att_z.array().tanh();
    out.attention_weights.setZero(batch, frames);
    pooled.resize(batch, D());
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = lengths[static_cast<size_t>(b)];
      auto w = out.attention_weights.row(b).head(len);
      w.noalias() = (att_z.middleRows(b * frames, len) * v).transpose();
      const Scalar m = w.maxCoeff();
      w.array() = (w.array() - m).exp();
      w /= w.sum();
      pooled.row(b).noalias() = w * y.middleRows(b * frames, len);
    }
    out.clip_logits.noalias() = pooled * w_out.transpose();
    out.clip_logits.rowwise() += b_out;
    LogSoftmaxInto(out.clip_logits, out.clip_log_probs);
  }

  // d loss / d rnn output (batch-major) from d loss / d logits; head gradients accumulated.
  void BackwardHead(const M& d_in, std::span<Scalar* const> g) {
    const int64_t bt = batch * frames;
    const M& y = out.rnn_output.data;
    const size_t o = OutBase();
    const CMap w_out(params[o], C(), D());
    MMap dw_out(g[o], C(), D());
    MRow db_out(g[o + 1], C());
    if (arch.head == HeadType::kFrame) {
      if (d_in.rows() != bt || d_in.cols() != C()) {
        throw ConfigError("training pass: d_logits has shape [" + std::to_string(d_in.rows()) + ", " +
                          std::to_string(d_in.cols()) + "]; expected [" + std::to_string(bt) + ", " +
                          std::to_string(C()) + "] (B * T frames, classes)");
      }
      // Rows past each length are ignored: zeroed in a copy, whatever they hold.
      d_logits = d_in;
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t len = lengths[static_cast<size_t>(b)];
        d_logits.middleRows(b * frames + len, frames - len).setZero();
      }
      d_rnn.resize(bt, D());
      RunPair(
          [&] {
            if constexpr (kFloat) {
              gemm::AddTransposedProduct(bt, C(), D(), d_logits.data(), C(), y.data(), D(), dw_out.data(), D(),
                                         head_scratch);
            } else {
              dw_out.noalias() += d_logits.transpose() * y;
            }
            AddColumnSums(d_logits, db_out);
          },
          [&] {
            if constexpr (kFloat) {
              w_out_b.Pack(w_out.data(), D(), false, C(), D());
              gemm::MultiplyPacked(bt, d_logits.data(), C(), w_out_b, d_rnn.data(), D(), false);
            } else {
              d_rnn.noalias() = d_logits * w_out;
            }
          });
      return;
    }
    if (d_in.rows() != batch || d_in.cols() != C()) {
      throw ConfigError("training pass: d_logits has shape [" + std::to_string(d_in.rows()) + ", " +
                        std::to_string(d_in.cols()) + "]; expected [" + std::to_string(batch) + ", " +
                        std::to_string(C()) + "] (clips, classes) for the attention head");
    }
    dw_out.noalias() += d_in.transpose() * pooled;
    AddColumnSums(d_in, db_out);
    const M d_pooled = d_in * w_out;  // [B, D]
    const size_t a = HeadBase();
    const CMap w_att(params[a], A(), D());
    const Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> v(params[a + 2], A());
    MMap dw_att(g[a], A(), D());
    MRow db_att(g[a + 1], A());
    MRow dv(g[a + 2], A());
    d_rnn.setZero(bt, D());
    d_z.setZero(bt, A());
    Row d_alpha, d_e;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t len = lengths[static_cast<size_t>(b)];
      const auto alpha = out.attention_weights.row(b).head(len);
      const auto yb = y.middleRows(b * frames, len);
      // c = sum_t alpha_t y_t: d alpha_t = dc . y_t, d y_t = alpha_t dc.
      d_alpha.noalias() = d_pooled.row(b) * yb.transpose();
      d_rnn.middleRows(b * frames, len).noalias() = alpha.transpose() * d_pooled.row(b);
      // alpha = softmax(e): d e = alpha * (d alpha - alpha . d alpha).
      d_e = alpha.array() * (d_alpha.array() - alpha.dot(d_alpha));
      const auto zb = att_z.middleRows(b * frames, len);
      dv.noalias() += d_e * zb;
      // e_t = v . z_t, z = tanh(W y + b).
      d_z.middleRows(b * frames, len).noalias() = d_e.transpose() * v.transpose();
      d_z.middleRows(b * frames, len).array() *= Scalar(1) - zb.array().square();
    }
    dw_att.noalias() += d_z.transpose() * y;
    AddColumnSums(d_z, db_att);
    d_rnn.noalias() += d_z * w_att;
  }

  // Backpropagation through time for one direction; d_out is the time-major d loss / d layer output.
  // Accumulates the direction's parameter gradients; with `need_dx` the forward direction writes
  // d loss / d layer input into d_x_time (time-major) and the reverse one into its own d_x (step-major).
  void BackwardDirection(int k, int d, const M& d_out, DirectionGrads grads, bool need_dx, M& d_x_time) {
    Layer& layer = layers[static_cast<size_t>(k)];
    Direction& dir = layer.dirs[d];
    const DirectionParams p = Params(k, d);
    const int h = hidden;
    if (d == 1) {
      dir.d_out.resize(rows, h);
      for (int64_t i = 0; i < batch; ++i) {
        for (int64_t s = 0; s < Len(i); ++s) dir.d_out.row(s * batch + i) = d_out.row(TimeRow(1, s, i)).segment(h, h);
      }
    }
    dir.d_h.setZero(batch, h);
    if constexpr (kFloat) dir.w_hh_b.Pack(p.w_hh.data(), h, false, gates, h);
    if (lstm) dir.d_c.setZero(batch, h);
    dir.d_gates.resize(rows, gates);
    ZeroInactive(dir.d_gates);
    dir.d_gates_sum.setZero(gates);
    dir.d_xn_sum.setZero(lstm ? 0 : h);
    if (!lstm) {
      dir.d_xn.resize(rows, h);
      ZeroInactive(dir.d_xn);
    }
    // Float LSTM: d_gates also goes, row by row, into the packed copy for the weight gradients.
    Scalar* d_panels = nullptr;
    const int64_t panel_stride = rows * gemm::kPanelWidth;
    if constexpr (kFloat) {
      if (lstm) {
        dir.d_gates_packed.Resize(rows, gates);
        d_panels = dir.d_gates_packed.MutablePanel(0);
        // Rows of ended sequences are zero (they may hold another batch's values).
        const int64_t panels = (gates + gemm::kPanelWidth - 1) / gemm::kPanelWidth;
        for (int64_t s = 0; s < longest; ++s) {
          const int64_t n = active[static_cast<size_t>(s)];
          for (int64_t q = 0; q < panels && n < batch; ++q) {
            float* panel = dir.d_gates_packed.MutablePanel(q);
            std::fill(panel + (s * batch + n) * gemm::kPanelWidth, panel + (s + 1) * batch * gemm::kPanelWidth, 0.0f);
          }
        }
      }
    }
    for (int64_t s = longest - 1; s >= 0; --s) {
      const int64_t n = active[static_cast<size_t>(s)];
      auto dh = dir.d_h.topRows(n);
      // d loss / d h_t from the layer output: rows of d_out (time-major, the direction's columns) or of the
      // reverse direction's step-major copy.
      const Scalar* d_out_s = d == 0 ? d_out.data() + s * batch * d_out.cols() : dir.d_out.row(s * batch).data();
      const int64_t ld_out = d == 0 ? d_out.cols() : h;
      const auto g = dir.gates.middleRows(s * batch, n);
      auto dg = dir.d_gates.middleRows(s * batch, n);
      if (lstm) {
        LstmCellBackward<Scalar>(n, h, g.data(), dir.cell.row(s * batch).data(), dir.tanh_cell.row(s * batch).data(),
                                 d_out_s, ld_out, dh.data(), dir.d_c.data(), dg.data(), dir.d_gates_sum.data(),
                                 d_panels == nullptr ? nullptr : d_panels + s * batch * gemm::kPanelWidth,
                                 panel_stride);
        // d h_{t-1}.
        if constexpr (kFloat) {
          gemm::MultiplyPacked(n, dg.data(), gates, dir.w_hh_b, dh.data(), h, false);
        } else {
          dh.noalias() = dg * p.w_hh;
        }
      } else {
        if (d == 0) {
          dh += d_out.block(s * batch, 0, n, h);
        } else {
          dh += dir.d_out.middleRows(s * batch, n);
        }
        const auto r_g = g.leftCols(h).array();
        const auto z_g = g.middleCols(h, h).array();
        const auto n_g = g.rightCols(h).array();
        auto dxn = dir.d_xn.middleRows(s * batch, n).array();
        dxn = dh.array() * (Scalar(1) - z_g) * (Scalar(1) - n_g.square());
        dg.leftCols(h).array() = dxn * dir.hn.middleRows(s * batch, n).array() * r_g * (Scalar(1) - r_g);
        dg.middleCols(h, h).array() =
            dh.array() * (dir.hidden.middleRows(s * batch, n).array() - n_g) * z_g * (Scalar(1) - z_g);
        dg.rightCols(h).array() = dxn * r_g;
        dh.array() *= z_g;
        if constexpr (kFloat) {
          AddColumnSums(dg, dir.d_gates_sum);
          AddColumnSums(dir.d_xn.middleRows(s * batch, n), dir.d_xn_sum);
          gemm::MultiplyPacked(n, dg.data(), gates, dir.w_hh_b, dh.data(), h, true);
        } else {
          dh.noalias() += dg * p.w_hh;
        }
      }
    }
    // Everything else is one product over all steps.
    const M& x = d == 0 ? layer.input : dir.x_local;
    M& dx = d == 0 ? d_x_time : dir.d_x;
    if constexpr (kFloat) {
      const int in = layer.in;
      std::vector<float>& sc = dir.scratch;
      grads.b_hh += dir.d_gates_sum;
      if (need_dx) dx.resize(rows, in);
      if (lstm) {
        gemm::AddTransposedProduct(dir.d_gates_packed, h, dir.hidden.data(), h, grads.w_hh.data(), h, sc);
        gemm::AddTransposedProduct(dir.d_gates_packed, in, x.data(), in, grads.w_ih.data(), in, sc);
        grads.b_ih += dir.d_gates_sum;
        if (need_dx) {
          dir.w_ih_b.Pack(p.w_ih.data(), in, false, gates, in);
          gemm::MultiplyPacked(rows, dir.d_gates.data(), gates, dir.w_ih_b, dx.data(), in, false);
        }
      } else {
        gemm::AddTransposedProduct(rows, gates, h, dir.d_gates.data(), gates, dir.hidden.data(), h, grads.w_hh.data(),
                                   h, sc);
        gemm::AddTransposedProduct(rows, 2 * h, in, dir.d_gates.data(), gates, x.data(), in, grads.w_ih.data(), in,
                                   sc);
        gemm::AddTransposedProduct(rows, h, in, dir.d_xn.data(), h, x.data(), in, grads.w_ih.data() + 2 * h * in, in,
                                   sc);
        grads.b_ih.head(2 * h) += dir.d_gates_sum.head(2 * h);
        grads.b_ih.tail(h) += dir.d_xn_sum;
        if (need_dx) {
          dir.w_ih_b.Pack(p.w_ih.data(), in, false, 2 * h, in);
          dir.w_ih_b2.Pack(p.w_ih.data() + 2 * h * in, in, false, h, in);
          gemm::MultiplyPacked(rows, dir.d_gates.data(), gates, dir.w_ih_b, dx.data(), in, false);
          gemm::MultiplyPacked(rows, dir.d_xn.data(), h, dir.w_ih_b2, dx.data(), in, true);
        }
      }
      return;
    }
    grads.w_hh.noalias() += dir.d_gates.transpose() * dir.hidden.topRows(rows);
    if (lstm) {
      grads.b_hh += dir.d_gates_sum;
      grads.w_ih.noalias() += dir.d_gates.transpose() * x;
      grads.b_ih += dir.d_gates_sum;
      if (need_dx) dx.noalias() = dir.d_gates * p.w_ih;
    } else {
      AddColumnSums(dir.d_gates, grads.b_hh);
      grads.w_ih.topRows(2 * h).noalias() += dir.d_gates.leftCols(2 * h).transpose() * x;
      grads.w_ih.bottomRows(h).noalias() += dir.d_xn.transpose() * x;
      AddColumnSums(dir.d_gates.leftCols(2 * h), grads.b_ih.head(2 * h));
      AddColumnSums(dir.d_xn, grads.b_ih.tail(h));
      if (need_dx) {
        dx.noalias() = dir.d_gates.leftCols(2 * h) * p.w_ih.topRows(2 * h);
        dx.noalias() += dir.d_xn * p.w_ih.bottomRows(h);
      }
    }
  }

  void Backward(const M& d_in, std::span<Scalar* const> g, M* d_input) {
    if (!have_forward) throw Error("training pass: Backward without a Forward");
    if (g.size() != NumTensors()) {
      throw ConfigError("training pass: " + std::to_string(g.size()) + " gradient tensors; the model has " +
                        std::to_string(NumTensors()));
    }
    BackwardHead(d_in, g);
    // d loss / d top output, time-major.
    d_top.resize(rows, D());
    Split(batch, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t b = order[static_cast<size_t>(i)];
        for (int64_t t = 0; t < Len(i); ++t) d_top.row(t * batch + i) = d_rnn.row(b * frames + t);
      }
    });
    // Time-major d loss / d layer output and d loss / d layer input, two buffers used in turn.
    const M* d_out = &d_top;
    M* d_x = &d_buffers[0];
    for (int k = arch.num_layers - 1; k >= 0; --k) {
      Layer& layer = layers[static_cast<size_t>(k)];
      const bool need_dx = k > 0 || d_input != nullptr;
      if (need_dx) d_x->resize(rows, layer.in);
      RunDirections([&](int d) { BackwardDirection(k, d, *d_out, Grads(g, k, d), need_dx, *d_x); });
      if (!need_dx) break;
      if (arch.bidirectional) {
        const M& dx_rev = layer.dirs[1].d_x;
        Split(batch, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) {
            for (int64_t s = 0; s < Len(i); ++s) d_x->row(TimeRow(1, s, i)) += dx_rev.row(s * batch + i);
          }
        });
      }
      if (k == 0) break;
      if (layer.dropped) d_x->array() *= layer.mask.array();
      d_out = d_x;
      d_x = d_x == &d_buffers[0] ? &d_buffers[1] : &d_buffers[0];
    }
    if (d_input != nullptr) {
      d_input->resize(batch * frames, arch.input_size);
      Split(batch, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t b = order[static_cast<size_t>(i)];
          for (int64_t t = 0; t < Len(i); ++t) d_input->row(b * frames + t) = d_x->row(t * batch + i);
          d_input->middleRows(b * frames + Len(i), frames - Len(i)).setZero();
        }
      });
    }
  }
  M d_top_spare;
};

template <class Scalar>
BasicTrainingPass<Scalar>::BasicTrainingPass(const ModelArchitecture& arch, TrainingPassConfig config)
    : impl_(std::make_unique<Impl>(arch, config)) {}

template <class Scalar>
BasicTrainingPass<Scalar>::~BasicTrainingPass() = default;
template <class Scalar>
BasicTrainingPass<Scalar>::BasicTrainingPass(BasicTrainingPass&&) noexcept = default;
template <class Scalar>
BasicTrainingPass<Scalar>& BasicTrainingPass<Scalar>::operator=(BasicTrainingPass&&) noexcept = default;

template <class Scalar>
const BasicModelOutput<Scalar>& BasicTrainingPass<Scalar>::Forward(std::span<const Scalar* const> parameters,
                                                                   const BasicSequenceBatch<Scalar>& input,
                                                                   std::mt19937_64* rng) {
  impl_->Forward(parameters, input, rng);
  return impl_->out;
}

template <class Scalar>
void BasicTrainingPass<Scalar>::Backward(const Matrix& d_logits, std::span<Scalar* const> gradients,
                                         Matrix* d_input) {
  impl_->Backward(d_logits, gradients, d_input);
}

template <class Scalar>
const typename BasicTrainingPass<Scalar>::Matrix* BasicTrainingPass<Scalar>::DropoutMask(int layer) const {
  if (layer < 1 || layer >= impl_->arch.num_layers || !impl_->have_forward) return nullptr;
  const auto& l = impl_->layers[static_cast<size_t>(layer)];
  return l.dropped ? &l.mask : nullptr;
}

template class BasicTrainingPass<float>;
template class BasicTrainingPass<double>;

TrainingPass::TrainingPass(const AcousticModel& model, TrainingPassConfig config)
    : model_(model), config_(config), core_(model.Architecture(), config) {}

const ModelOutput& TrainingPass::Forward(const SequenceBatch& input, std::mt19937_64* rng) {
  std::vector<const float*> params;
  for (const ConstParameterView& p : model_.Parameters()) params.push_back(p.values.data());
  return core_.Forward(params, input, rng);
}

void TrainingPass::Backward(const MatrixF& d_logits, ModelGradients& grads, MatrixF* d_input) {
  const std::vector<ConstParameterView> params = model_.Parameters();
  if (grads.values.size() != params.size()) {
    throw ConfigError("training pass: gradients hold " + std::to_string(grads.values.size()) +
                      " tensors; the model has " + std::to_string(params.size()) +
                      " (use ModelGradients::ZerosLike(model))");
  }
  std::vector<float*> g;
  for (size_t i = 0; i < params.size(); ++i) {
    if (grads.values[i].size() != params[i].values.size()) {
      throw ConfigError("training pass: gradient '" + (i < grads.names.size() ? grads.names[i] : params[i].name) +
                        "' holds " + std::to_string(grads.values[i].size()) + " values; the parameter has " +
                        std::to_string(params[i].values.size()));
    }
    g.push_back(grads.values[i].data());
  }
  core_.Backward(d_logits, g, d_input);
}

}  // namespace ossicle
