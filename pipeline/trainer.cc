#include "pipeline/trainer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <sstream>

#include "features/config-json.h"
#include "features/errors.h"
#include "models/losses.h"
#include "models/model-ensemble.h"
#include "models/model-gradients.h"
#include "models/safetensors.h"
#include "models/training-pass.h"
#include "pipeline/frame-targets.h"
#include "pipeline/training-data.h"

namespace ossicle {

// ---- SHA-256 (FIPS 180-4) ------------------------------------------------------------------------------

namespace {

class Sha256 {
 public:
  void Update(const uint8_t* data, size_t n) {
    total_ += n;
    while (n > 0) {
      const size_t take = std::min(n, size_t{64} - fill_);
      std::copy(data, data + take, block_.begin() + static_cast<std::ptrdiff_t>(fill_));
      fill_ += take;
      data += take;
      n -= take;
      if (fill_ == 64) {
        Compress();
        fill_ = 0;
      }
    }
  }
  std::string HexDigest() {
    const uint64_t bits = total_ * 8;
    const uint8_t one = 0x80, zero = 0;
    Update(&one, 1);
    while (fill_ != 56) Update(&zero, 1);
    std::array<uint8_t, 8> length{};
    for (int i = 0; i < 8; ++i) length[static_cast<size_t>(i)] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    Update(length.data(), 8);
    std::string hex;
    const char* digits = "0123456789abcdef";
    for (const uint32_t word : h_) {
      for (int shift = 28; shift >= 0; shift -= 4) hex += digits[(word >> shift) & 0xF];
    }
    return hex;
  }

 private:
  static uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
  void Compress() {
    // The first 32 bits of the fractional parts of the cube roots of the first 64 primes (FIPS 180-4, 4.2.2).
    static constexpr std::array<uint32_t, 64> k = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
    std::array<uint32_t, 64> w{};
    for (size_t i = 0; i < 16; ++i) {
      w[i] = static_cast<uint32_t>(block_[4 * i]) << 24 | static_cast<uint32_t>(block_[4 * i + 1]) << 16 |
             static_cast<uint32_t>(block_[4 * i + 2]) << 8 | static_cast<uint32_t>(block_[4 * i + 3]);
    }
    for (size_t i = 16; i < 64; ++i) {
      const uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto [a, b, c, d, e, f, g, h] = h_;
    for (size_t i = 0; i < 64; ++i) {
      const uint32_t t1 = h + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
      const uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    const std::array<uint32_t, 8> add{a, b, c, d, e, f, g, h};
    for (size_t i = 0; i < 8; ++i) h_[i] += add[i];
  }

  // Initial hash: the first 32 bits of the fractional parts of the square roots of the first 8 primes.
  std::array<uint32_t, 8> h_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<uint8_t, 64> block_{};
  size_t fill_ = 0;
  uint64_t total_ = 0;
};

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  Sha256 s;
  s.Update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return s.HexDigest();
}

std::string Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path + ": cannot open for hashing");
  Sha256 s;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    s.Update(reinterpret_cast<const uint8_t*>(buf.data()), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw IoError(path + ": read error while hashing");
  return s.HexDigest();
}

// ---- the trainer ------------------------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kStateVersion = 1;
constexpr const char* kLastCheckpoint = "checkpoint-last.safetensors";
constexpr const char* kBestCheckpoint = "checkpoint-best.safetensors";

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// SplitMix64's finaliser: independent-looking seeds from (seed, counter).
uint64_t MixSeed(uint64_t seed, uint64_t counter) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (counter + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

nlohmann::json MetricsToJson(const EpochMetrics& m) {
  nlohmann::json j = {{"epoch", m.epoch},
                      {"step", m.step},
                      {"train_loss", m.train_loss},
                      {"learning_rate", m.learning_rate},
                      {"seconds", m.seconds},
                      {"frames_per_s", m.frames_per_s},
                      {"skipped_steps", m.skipped_steps},
                      {"best", m.best}};
  if (m.train_accuracy >= 0) j["train_accuracy"] = m.train_accuracy;
  if (m.dev_loss >= 0) j["dev_loss"] = m.dev_loss;
  if (m.dev_accuracy >= 0) j["dev_accuracy"] = m.dev_accuracy;
  if (m.dev_token_error_rate >= 0) j["dev_token_error_rate"] = m.dev_token_error_rate;
  return j;
}

EpochMetrics MetricsFromJson(const nlohmann::json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch").get<int64_t>();
  m.step = j.at("step").get<int64_t>();
  m.train_loss = j.at("train_loss").get<double>();
  m.learning_rate = j.at("learning_rate").get<double>();
  m.seconds = j.at("seconds").get<double>();
  m.frames_per_s = j.at("frames_per_s").get<double>();
  m.skipped_steps = j.at("skipped_steps").get<int64_t>();
  m.best = j.at("best").get<bool>();
  m.train_accuracy = j.value("train_accuracy", -1.0);
  m.dev_loss = j.value("dev_loss", -1.0);
  m.dev_accuracy = j.value("dev_accuracy", -1.0);
  m.dev_token_error_rate = j.value("dev_token_error_rate", -1.0);
  return m;
}

// What must not change between a run and its resumption (everything that shapes the result, except the
// length of the run, logging and the number of loading threads).
nlohmann::json ResumeKey(const ExperimentConfig& c) {
  nlohmann::json j;
  j["seed"] = c.seed;
  j["target"] = std::string(EnumToString(c.target));
  j["labels"] = c.labels;
  j["features"] = ConfigToJson(c.features);
  j["model"] = ConfigToJson(c.model);
  for (const char* part : {"train", "dev"}) {
    nlohmann::json list = nlohmann::json::array();
    for (const ManifestSource& s : std::string(part) == "train" ? c.train : c.dev) list.push_back(ConfigToJson(s));
    j["data"][part] = list;
  }
  nlohmann::json loader = ConfigToJson(c.loader);
  for (const char* k : {"workers", "prefetch_batches", "cache_dir"}) loader.erase(k);
  j["data"]["loader"] = loader;
  nlohmann::json training = ConfigToJson(c.training);
  for (const char* k : {"epochs", "max_steps", "early_stopping_patience", "log_every_steps",
                        "checkpoint_every_steps", "num_threads"}) {
    training.erase(k);
  }
  j["training"] = training;
  return j;
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Greedy CTC decoding of one sequence: arg-max per frame, repeats merged, blanks (0) dropped.
std::vector<int32_t> GreedyCtc(const MatrixF& log_probs, int64_t first_row, int64_t length) {
  std::vector<int32_t> out;
  int32_t prev = -1;
  for (int64_t t = 0; t < length; ++t) {
    Eigen::Index best = 0;
    log_probs.row(first_row + t).maxCoeff(&best);
    const auto k = static_cast<int32_t>(best);
    if (k != prev && k != 0) out.push_back(k);
    prev = k;
  }
  return out;
}

int64_t EditDistance(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<int64_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Sums over an epoch or an evaluation.
struct Tally {
  double loss = 0;        // summed loss
  double weight = 0;      // its divisor (frames, clips or target tokens)
  int64_t frames = 0;     // input frames
  int64_t clips = 0;
  int64_t correct = 0;    // class target: clips right
  int64_t token_errors = 0, tokens = 0;  // tokens target: edit distance and reference length
  double seconds = 0;     // training time
  int64_t skipped = 0;

  double MeanLoss() const { return weight > 0 ? loss / weight : 0.0; }
  nlohmann::json ToJson() const {
    return {{"loss", loss}, {"weight", weight},   {"frames", frames},   {"clips", clips},      {"correct", correct},
            {"token_errors", token_errors},       {"tokens", tokens},   {"seconds", seconds},  {"skipped", skipped}};
  }
  static Tally FromJson(const nlohmann::json& j) {
    Tally t;
    t.loss = j.at("loss").get<double>();
    t.weight = j.at("weight").get<double>();
    t.frames = j.at("frames").get<int64_t>();
    t.clips = j.at("clips").get<int64_t>();
    t.correct = j.at("correct").get<int64_t>();
    t.token_errors = j.at("token_errors").get<int64_t>();
    t.tokens = j.at("tokens").get<int64_t>();
    t.seconds = j.at("seconds").get<double>();
    t.skipped = j.at("skipped").get<int64_t>();
    return t;
  }
};

// True for the parameters of recurrent layers [0, frozen_layers) ("rnn.weight_ih_l0", "rnn.bias_hh_l1_reverse").
bool IsFrozen(const std::string& name, int frozen_layers) {
  if (frozen_layers <= 0 || name.rfind("rnn.", 0) != 0) return false;
  const size_t at = name.rfind("_l");
  return at != std::string::npos && std::stoi(name.substr(at + 2)) < frozen_layers;
}

// Starts `model` (freshly initialised for the experiment) from the weights of the model file
// config.init_from: the recurrent stack always, the head (out.*, att.*) when the labels and head are the same.
// ConfigError at the init_from key naming the file and the first difference. Returns the provenance entry.
nlohmann::json InitFromModel(const ExperimentConfig& config, AcousticModel& model) {
  const std::string& path = config.init_from;
  auto fail = [&](const std::string& what) {
    throw ConfigError(config.Where("init_from") + "init_from: " + path + ": " + what);
  };
  std::shared_ptr<const AcousticModel> source;
  try {
    source = AcousticModel::Load(path);
  } catch (const Error& e) {
    fail(e.what());
  }
  const int ensemble_size = source->Architecture().ensemble_size;
  if (ensemble_size > 1) {
    if (config.init_from_member < 0) {
      fail("an ensemble of " + std::to_string(ensemble_size) +
           " models; choose one with init_from_member (0-based) or start from a member's own file");
    }
    if (config.init_from_member >= ensemble_size || source->EnsembleHiddenSizes().empty()) {
      fail("init_from_member = " + std::to_string(config.init_from_member) + " but the file holds " +
           (source->EnsembleHiddenSizes().empty() ? std::string("a dense ensemble whose members are not recorded")
                                                  : std::to_string(ensemble_size) + " members (0 to " +
                                                        std::to_string(ensemble_size - 1) + ")"));
    }
    source = SplitEnsemble(*source)[static_cast<size_t>(config.init_from_member)];
  } else if (config.init_from_member > 0) {
    fail("init_from_member = " + std::to_string(config.init_from_member) + " but the model is not an ensemble");
  }
  const ModelArchitecture& a = source->Architecture();
  const ModelArchitecture& want = model.Architecture();
  auto differ = [&](const std::string& field, const std::string& got, const std::string& expected) {
    fail(field + " is " + got + " but the experiment's model." + field + " is " + expected +
         " (the recurrent stack must be the same)");
  };
  if (a.cell != want.cell) differ("cell", std::string(EnumToString(a.cell)), std::string(EnumToString(want.cell)));
  if (a.num_layers != want.num_layers) {
    differ("num_layers", std::to_string(a.num_layers), std::to_string(want.num_layers));
  }
  if (a.hidden_size != want.hidden_size) {
    differ("hidden_size", std::to_string(a.hidden_size), std::to_string(want.hidden_size));
  }
  if (a.bidirectional != want.bidirectional) {
    differ("bidirectional", a.bidirectional ? "true" : "false", want.bidirectional ? "true" : "false");
  }
  try {
    source->CheckFeatures(config.features, "the experiment's features");
  } catch (const ConfigError& e) {
    fail(e.what());
  }
  const bool same_head = a.head == want.head && a.attention_size == want.attention_size &&
                         source->Labels() == model.Labels();
  const std::vector<ConstParameterView> from = source->Parameters();
  int copied = 0;
  for (ParameterView& p : model.MutableParameters()) {
    if (p.name.rfind("rnn.", 0) != 0 && !same_head) continue;
    const auto it = std::find_if(from.begin(), from.end(), [&](const auto& f) { return f.name == p.name; });
    if (it == from.end() || it->shape != p.shape) fail("no tensor " + p.name + " of the experiment's shape");
    std::copy(it->values.begin(), it->values.end(), p.values.begin());
    ++copied;
  }
  model.ParametersChanged();
  nlohmann::json info = {{"path", path}, {"sha256", Sha256File(path)}, {"tensors", copied},
                         {"head_copied", same_head},
                         {"head", same_head ? "copied (same labels)" : "new (other labels or head)"}};
  if (ensemble_size > 1) info["member"] = config.init_from_member;
  return info;
}

}  // namespace

struct Trainer::Impl {
  ExperimentConfig config;
  TrainerOptions options;
  ExperimentData data;
  std::filesystem::path out_dir;
  FrameTargetRule frame_rule;  // class target, frame head
  std::shared_ptr<AcousticModel> model;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<LrSchedule> schedule;
  ModelGradients grads;
  std::unique_ptr<TrainingPass> pass;
  int64_t batches_per_epoch = 0;
  int64_t total_steps = 0;
  nlohmann::json init_from;  // what init_from gave the model (provenance), null without it
  std::vector<bool> trained;  // per parameter (MutableParameters order): an optimiser slot (not frozen)

  // Trainer state (saved in checkpoints).
  int64_t epoch = 0;           // epochs completed
  int64_t batch_in_epoch = 0;  // batches of the current epoch done
  int64_t step = 0;            // optimiser steps (batches) done in the whole run
  Tally tally;                 // the current epoch so far
  std::optional<double> best_metric;
  int64_t epochs_without_improvement = 0;
  std::vector<EpochMetrics> history;

  Impl(ExperimentConfig c, TrainerOptions o)
      : config(std::move(c)),
        options(std::move(o)),
        data(LoadExperimentData(config)),
        out_dir(config.OutputDir()),
        frame_rule(FrameTargetRule::ForLabels(config.labels, config.training.frame_targets,
                                              config.training.cross_entropy.ignore_index)) {}

  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }
  bool HigherIsBetter() const { return !config.dev.empty() && config.training.dev_metric == DevMetric::kAccuracy; }

  // ---- losses and decisions
  LossResult Loss(const ModelOutput& out, const TrainingBatch& b, MatrixF* d_logits) const {
    if (config.target == TargetType::kTokens) {
      return CtcLoss(out.log_probs, b.tokens, CtcConfig{0, config.training.ctc_zero_infinity}, d_logits,
                     config.training.num_threads);
    }
    if (config.model.head == HeadType::kAttention) {
      return ClipCrossEntropy(out.clip_log_probs, b.labels, config.training.cross_entropy, d_logits);
    }
    // Frame head: the targets of pipeline/frame-targets.h (frames past a length are ignored by the loss).
    const int64_t frames = b.features.max_frames;
    std::vector<int32_t> targets(static_cast<size_t>(b.features.BatchSize() * frames),
                                 config.training.cross_entropy.ignore_index);
    for (size_t i = 0; i < b.labels.size(); ++i) {
      const int64_t row0 = static_cast<int64_t>(i) * frames;
      const int64_t len = b.features.lengths[i];
      frame_rule.Fill(b.features.data.middleRows(static_cast<Eigen::Index>(row0), static_cast<Eigen::Index>(len)),
                      b.labels[i], std::span<int32_t>(targets).subspan(static_cast<size_t>(row0), static_cast<size_t>(len)),
                      i < b.zero_frames.size() ? b.zero_frames[i].start : 0,
                      i < b.zero_frames.size() ? b.zero_frames[i].end : 0);
    }
    return FrameCrossEntropy(out.log_probs, targets, config.training.cross_entropy, d_logits,
                             config.training.num_threads);
  }

  // Adds the batch's decisions (clip accuracy or token errors) to `t`.
  void Score(const ModelOutput& out, const TrainingBatch& b, Tally& t) const {
    const int64_t frames = b.features.max_frames;
    for (int64_t i = 0; i < b.features.BatchSize(); ++i) {
      const auto ui = static_cast<size_t>(i);
      const int64_t len = b.features.lengths[ui];
      ++t.clips;
      if (config.target == TargetType::kTokens) {
        const std::vector<int32_t> hyp = GreedyCtc(out.log_probs.data, i * frames, len);
        t.token_errors += EditDistance(hyp, b.tokens[ui]);
        t.tokens += static_cast<int64_t>(b.tokens[ui].size());
        continue;
      }
      Eigen::Index best = 0;
      if (config.model.head == HeadType::kAttention) {
        out.clip_log_probs.row(i).maxCoeff(&best);
      } else if (len > 0) {
        best = frame_rule.Decide(out.log_probs.data.middleRows(i * frames, len));
      }
      if (static_cast<int32_t>(best) == b.labels[ui]) ++t.correct;
    }
  }

  static int64_t Frames(const TrainingBatch& b) {
    int64_t n = 0;
    for (const int64_t l : b.features.lengths) n += l;
    return n;
  }

  // ---- one optimiser step
  void TrainStep(const TrainingBatch& b) {
    std::mt19937_64 rng(MixSeed(config.seed, static_cast<uint64_t>(step)));
    const ModelOutput& out = pass->Forward(b.features, config.training.dropout > 0 ? &rng : nullptr);
    MatrixF d_logits;
    const LossResult r = Loss(out, b, &d_logits);
    const double divisor = r.total_weight > 0 ? r.total_weight : 1.0;
    d_logits *= static_cast<float>(1.0 / divisor);
    Score(out, b, tally);
    grads.SetZero();
    pass->Backward(d_logits, grads);

    std::vector<ParameterView> views = model->MutableParameters();
    std::vector<std::span<float>> params;
    std::vector<std::span<const float>> g;
    for (size_t i = 0; i < views.size(); ++i) {
      if (!trained[i]) continue;  // a frozen layer: not an optimiser slot
      params.push_back(views[i].values);
      g.emplace_back(grads.values[i]);
    }
    const double norm = optimizer->Step(params, g, schedule->LearningRate(step));
    if (std::isfinite(norm)) {
      model->ParametersChanged();
    } else {
      ++tally.skipped;
    }
    if (std::isfinite(r.loss)) {
      tally.loss += r.loss;
      tally.weight += r.total_weight;
    }
    tally.frames += Frames(b);
    ++step;
    ++batch_in_epoch;
  }

  // ---- dev evaluation (no dropout, no augmentation, dataset order)
  Tally Evaluate() const {
    Tally t;
    BatchLoader loader(data.dev, config.loader, config.seed, 0, /*train=*/false);
    TrainingBatch b;
    while (loader.Next(&b)) {
      const ModelOutput out = model->Forward(b.features, config.training.num_threads);
      const LossResult r = Loss(out, b, nullptr);
      if (std::isfinite(r.loss)) {
        t.loss += r.loss;
        t.weight += r.total_weight;
      }
      t.frames += Frames(b);
      Score(out, b, t);
    }
    return t;
  }

  // ---- checkpoints
  nlohmann::json StateJson() const {
    nlohmann::json history_json = nlohmann::json::array();
    for (const EpochMetrics& m : history) history_json.push_back(MetricsToJson(m));
    const LrSchedule::State s = schedule->GetState();
    nlohmann::json j = {{"version", kStateVersion},
                        {"epoch", epoch},
                        {"batch_in_epoch", batch_in_epoch},
                        {"step", step},
                        {"tally", tally.ToJson()},
                        {"epochs_without_improvement", epochs_without_improvement},
                        {"schedule", {{"scale", s.scale}, {"best", s.best}, {"has_best", s.has_best},
                                      {"bad_epochs", s.bad_epochs}}},
                        {"history", history_json},
                        {"resume_key", ResumeKey(config)}};
    if (best_metric) j["best_metric"] = *best_metric;
    return j;
  }

  // A model file (so AcousticModel::Load reads it) plus the optimiser and trainer state, written atomically.
  void WriteCheckpoint(const std::filesystem::path& path) const {
    const std::filesystem::path tmp = out_dir / ".checkpoint-model.tmp.safetensors";
    model->Save(tmp.string());
    const SafetensorsFile weights = SafetensorsFile::Open(tmp.string());
    SafetensorsWriter w(path.string());
    for (const auto& [key, value] : weights.Metadata()) w.SetMetadata(key, value);
    for (const std::string& name : weights.TensorNames()) {
      w.AddF32(name, weights.Info(name).shape, weights.ReadFloat(name));
    }
    optimizer->SaveState(w, "optimizer.");
    w.SetMetadata("trainer_state", StateJson().dump());
    w.SetMetadata("experiment", config.yaml);
    w.Close();
    std::filesystem::remove(tmp);
  }

  void Resume() {
    const std::filesystem::path path = out_dir / kLastCheckpoint;
    if (!std::filesystem::exists(path)) {
      throw ConfigError("--resume: no checkpoint at " + path.string() + " (outputs.dir of " + config.source_file +
                        "); start without --resume");
    }
    const SafetensorsFile file = SafetensorsFile::Open(path.string());
    const auto it = file.Metadata().find("trainer_state");
    if (it == file.Metadata().end()) throw ModelFormatError(path.string() + ": not a training checkpoint (no trainer_state)");
    nlohmann::json state;
    try {
      state = nlohmann::json::parse(it->second);
      if (state.at("version").get<int>() != kStateVersion) {
        throw ModelFormatError(path.string() + ": trainer state version " + state.at("version").dump() +
                               " is not supported");
      }
      // The configuration must be the one the checkpoint was trained with (epochs etc. may change).
      const nlohmann::json want = state.at("resume_key").flatten();
      const nlohmann::json got = ResumeKey(config).flatten();
      for (const auto& [key, value] : got.items()) {
        if (!want.contains(key) || want.at(key) != value) {
          std::string k = key.substr(1);
          std::replace(k.begin(), k.end(), '/', '.');
          throw ConfigError(config.Where(k) + "--resume: " + k + " = " + value.dump() + " but " + path.string() +
                            " was trained with " + (want.contains(key) ? want.at(key).dump() : "no such key") +
                            "; use the same configuration or start a new run");
        }
      }
      if (want.size() != got.size()) {
        throw ConfigError("--resume: " + path.string() + " was written by a different configuration");
      }
      auto loaded = AcousticModel::Load(path.string());
      model = loaded->MutableCopy();
      optimizer->LoadState(file, "optimizer.");
      epoch = state.at("epoch").get<int64_t>();
      batch_in_epoch = state.at("batch_in_epoch").get<int64_t>();
      step = state.at("step").get<int64_t>();
      tally = Tally::FromJson(state.at("tally"));
      epochs_without_improvement = state.at("epochs_without_improvement").get<int64_t>();
      if (state.contains("best_metric")) best_metric = state.at("best_metric").get<double>();
      const nlohmann::json& s = state.at("schedule");
      schedule->SetState({s.at("scale").get<double>(), s.at("best").get<double>(), s.at("has_best").get<bool>(),
                          s.at("bad_epochs").get<int>()});
      history.clear();
      for (const auto& m : state.at("history")) history.push_back(MetricsFromJson(m));
    } catch (const nlohmann::json::exception& e) {
      throw ModelFormatError(path.string() + ": damaged trainer state (" + e.what() + ")");
    }
    Log("resumed from " + path.string() + " at epoch " + std::to_string(epoch + 1) + ", batch " +
        std::to_string(batch_in_epoch) + ", step " + std::to_string(step));
  }

  void WriteMetrics() const {
    const std::filesystem::path path = out_dir / config.outputs.metrics;
    const std::filesystem::path tmp = path.string() + ".tmp";
    {
      std::ofstream out(tmp);
      for (const EpochMetrics& m : history) out << MetricsToJson(m).dump() << '\n';
      if (!out) throw IoError(tmp.string() + ": cannot write the metrics");
    }
    std::filesystem::rename(tmp, path);
  }

  nlohmann::json Provenance(const TrainResult& r) const {
    nlohmann::json manifests = nlohmann::json::array();
    for (size_t i = 0; i < data.manifest_paths.size(); ++i) {
      const bool is_train = i < config.train.size();
      manifests.push_back({{"path", data.manifest_paths[i]},
                           {"part", is_train ? "train" : "dev"},
                           {"sha256", Sha256File(data.manifest_paths[i])},
                           {"examples", data.manifest_examples[i]}});
    }
    nlohmann::json p = {{"trained_by", "ossicle train"},
                        {"date_utc", UtcNow()},
                        {"experiment", config.name},
                        {"description", config.description},
                        {"experiment_file", config.source_file},
                        {"config", config.yaml},
                        {"seed", config.seed},
                        {"manifests", manifests},
                        {"synthetic_examples", data.synthetic_examples},
                        {"epochs", r.epochs_done},
                        {"steps", r.step},
                        {"stop_reason", r.stop_reason}};
    if (!init_from.is_null()) p["init_from"] = init_from;
    p["final_model"] = std::string(EnumToString(config.training.final_model));
    if (config.training.final_model == FinalModel::kLast && !history.empty()) {
      p["metrics"] = MetricsToJson(history.back());
    } else if (r.best) {
      p["metrics"] = MetricsToJson(*r.best);
    }
    return p;
  }
};

Trainer::Trainer(ExperimentConfig config, TrainerOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(options))) {
  Impl& s = *impl_;
  const ExperimentConfig& c = s.config;
  s.model = AcousticModel::Initialize(c.model, c.features, c.labels, c.seed);
  if (!c.init_from.empty()) s.init_from = InitFromModel(c, *s.model);
  {
    DataConfig plan_only = c.loader;
    plan_only.workers = 0;
    BatchLoader plan(s.data.train, plan_only, c.seed, 0, /*train=*/true);
    s.batches_per_epoch = plan.NumBatches();
  }
  if (s.batches_per_epoch == 0) {
    throw ConfigError(c.Where("data.loader") + "data.loader: no training batches (batch_size " +
                      std::to_string(c.loader.batch_size) + " with drop_last and " +
                      std::to_string(s.data.train.Size()) + " examples)");
  }
  s.total_steps = s.batches_per_epoch * c.training.epochs;
  if (c.training.max_steps > 0) s.total_steps = std::min(s.total_steps, c.training.max_steps);
  std::vector<std::string> names;
  std::vector<int64_t> sizes;
  for (const ParameterView& v : s.model->MutableParameters()) {
    s.trained.push_back(!IsFrozen(v.name, c.training.frozen_layers));
    if (!s.trained.back()) continue;
    names.push_back(v.name);
    sizes.push_back(static_cast<int64_t>(v.values.size()));
  }
  s.optimizer = std::make_unique<Optimizer>(c.training.optimizer, names, sizes, c.training.num_threads);
  s.schedule = std::make_unique<LrSchedule>(c.training.schedule, c.training.optimizer.learning_rate, s.total_steps);
  if (s.options.resume) {
    s.Resume();
  } else {
    for (const std::string& name : {std::string(kLastCheckpoint), std::string(kBestCheckpoint), c.outputs.model}) {
      const std::filesystem::path old = s.out_dir / name;
      if (!std::filesystem::exists(old)) continue;
      if (!s.options.overwrite) {
        throw ConfigError(c.Where("outputs.dir") + "outputs.dir: " + old.string() +
                          " exists from an earlier run; continue it with --resume, start over with --overwrite, "
                          "or choose another outputs.dir");
      }
    }
  }
  s.grads = ModelGradients::ZerosLike(*s.model);
  s.pass = std::make_unique<TrainingPass>(*s.model, TrainingPassConfig{c.training.dropout, c.training.num_threads});
}

Trainer::~Trainer() = default;

const ExperimentConfig& Trainer::Config() const { return impl_->config; }
const ExperimentData& Trainer::Data() const { return impl_->data; }
const AcousticModel& Trainer::Model() const { return *impl_->model; }
int64_t Trainer::TotalSteps() const { return impl_->total_steps; }
std::string Trainer::InitFromDescription() const {
  const nlohmann::json& i = impl_->init_from;
  if (i.is_null()) return "";
  return i.at("path").get<std::string>() + (i.at("head_copied").get<bool>()
                                                ? ": its recurrent stack and output layer (same labels)"
                                                : ": its recurrent stack (the output layer is new: other labels or head)");
}

TrainResult Trainer::Run() {
  Impl& s = *impl_;
  const ExperimentConfig& c = s.config;
  const TrainingConfig& tc = c.training;
  std::filesystem::create_directories(s.out_dir);
  if (!s.options.resume) {
    // --overwrite: nothing of the earlier run may leak into this one (its best checkpoint above all).
    for (const std::string& name : {std::string(kLastCheckpoint), std::string(kBestCheckpoint), c.outputs.model,
                                   c.outputs.metrics}) {
      std::filesystem::remove(s.out_dir / name);
    }
  }
  TrainResult result;
  result.checkpoint_path = (s.out_dir / kLastCheckpoint).string();

  auto finish_result = [&](std::string reason) {
    result.stop_reason = std::move(reason);
    result.epochs_done = s.epoch;
    result.step = s.step;
    result.history = s.history;
    for (const EpochMetrics& m : s.history) {
      if (m.best) result.best = m;
    }
  };

  std::string reason = "epochs";
  while (s.epoch < tc.epochs) {
    if (tc.max_steps > 0 && s.step >= tc.max_steps) {
      reason = "max_steps";
      break;
    }
    BatchLoader loader(s.data.train, c.loader, c.seed, s.epoch, /*train=*/true, s.batch_in_epoch);
    TrainingBatch batch;
    bool hit_max_steps = false;
    // Training time counts waiting for batches too: it is what the run costs.
    auto since = Clock::now();
    while (loader.Next(&batch)) {
      s.TrainStep(batch);
      s.tally.seconds += Seconds(since, Clock::now());
      if (s.options.on_step) {
        StepProgress p;
        p.epoch = s.epoch + 1;
        p.num_epochs = tc.epochs;
        p.batch = s.batch_in_epoch;
        p.num_batches = loader.NumBatches();
        p.step = s.step;
        p.total_steps = s.total_steps;
        p.loss = s.tally.MeanLoss();
        p.learning_rate = s.schedule->LearningRate(s.step - 1);
        p.frames_per_s = s.tally.seconds > 0 ? static_cast<double>(s.tally.frames) / s.tally.seconds : 0.0;
        const double per_step = s.tally.seconds / static_cast<double>(std::max<int64_t>(1, s.batch_in_epoch));
        p.eta_s = per_step * static_cast<double>(std::max<int64_t>(0, s.total_steps - s.step));
        s.options.on_step(p);
      }
      if (tc.max_steps > 0 && s.step >= tc.max_steps) {
        hit_max_steps = true;
        break;
      }
      if (s.options.should_stop && s.options.should_stop()) {
        s.WriteCheckpoint(s.out_dir / kLastCheckpoint);
        s.Log("stopped at epoch " + std::to_string(s.epoch + 1) + ", batch " + std::to_string(s.batch_in_epoch) +
              ", step " + std::to_string(s.step) + "; checkpoint saved in " + result.checkpoint_path +
              " (continue with --resume)");
        finish_result("interrupted");
        return result;
      }
      if (tc.checkpoint_every_steps > 0 && s.step % tc.checkpoint_every_steps == 0) {
        s.WriteCheckpoint(s.out_dir / kLastCheckpoint);
      }
      since = Clock::now();
    }

    // End of the epoch (or of the run at max_steps): evaluate, record, checkpoint.
    EpochMetrics m;
    m.epoch = s.epoch + 1;
    m.step = s.step;
    m.train_loss = s.tally.MeanLoss();
    if (c.target == TargetType::kClass && s.tally.clips > 0) {
      m.train_accuracy = static_cast<double>(s.tally.correct) / static_cast<double>(s.tally.clips);
    }
    m.learning_rate = s.schedule->LearningRate(std::max<int64_t>(0, s.step - 1));
    m.frames_per_s = s.tally.seconds > 0 ? static_cast<double>(s.tally.frames) / s.tally.seconds : 0.0;
    m.skipped_steps = s.tally.skipped;
    double metric = m.train_loss;
    const auto eval_start = Clock::now();
    if (!c.dev.empty()) {
      const Tally dev = s.Evaluate();
      m.dev_loss = dev.MeanLoss();
      if (c.target == TargetType::kTokens) {
        m.dev_token_error_rate =
            dev.tokens > 0 ? static_cast<double>(dev.token_errors) / static_cast<double>(dev.tokens) : 0.0;
        m.dev_accuracy = 1.0 - m.dev_token_error_rate;
      } else {
        m.dev_accuracy = dev.clips > 0 ? static_cast<double>(dev.correct) / static_cast<double>(dev.clips) : 0.0;
      }
      metric = tc.dev_metric == DevMetric::kAccuracy ? m.dev_accuracy : m.dev_loss;
    }
    const bool higher = s.HigherIsBetter();
    m.best = !s.best_metric || (higher ? metric > *s.best_metric : metric < *s.best_metric);
    if (m.best) {
      s.best_metric = metric;
      s.epochs_without_improvement = 0;
    } else {
      ++s.epochs_without_improvement;
    }
    if (s.schedule->EndOfEpoch(metric, higher)) {
      s.Log("epoch " + std::to_string(m.epoch) + ": no improvement; learning rate reduced to " +
            std::to_string(s.schedule->LearningRate(s.step)));
    }
    m.seconds = s.tally.seconds + Seconds(eval_start, Clock::now());
    s.history.push_back(m);
    ++s.epoch;
    s.batch_in_epoch = 0;
    s.tally = Tally{};
    s.WriteCheckpoint(s.out_dir / kLastCheckpoint);
    if (m.best) s.WriteCheckpoint(s.out_dir / kBestCheckpoint);
    s.WriteMetrics();
    for (const Dataset* d : {&s.data.train, &s.data.dev}) {
      for (const std::string& w : d->TakeAudioWarnings()) s.Log("warning: " + w + " (used as it decoded)");
    }
    if (s.options.on_epoch) s.options.on_epoch(m);

    if (hit_max_steps) {
      reason = "max_steps";
      break;
    }
    if (tc.early_stopping_patience > 0 && s.epochs_without_improvement >= tc.early_stopping_patience &&
        s.epoch < tc.epochs) {
      s.Log("early stopping: no better dev metric for " + std::to_string(s.epochs_without_improvement) + " epochs");
      reason = "early_stopping";
      break;
    }
  }

  finish_result(reason);
  // The final model: the best checkpoint's weights with the provenance.
  const std::filesystem::path best = s.out_dir / kBestCheckpoint;
  const bool use_best = c.training.final_model == FinalModel::kBest && std::filesystem::exists(best);
  std::shared_ptr<const AcousticModel> final_model = use_best ? AcousticModel::Load(best.string()) : s.model;
  result.model_path = (s.out_dir / c.outputs.model).string();
  final_model->WithMetadata(c.features, c.labels, s.Provenance(result).dump())->Save(result.model_path);
  return result;
}

}  // namespace ossicle
