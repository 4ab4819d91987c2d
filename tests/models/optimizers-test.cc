// Optimisers against PyTorch's (torch.optim.SGD / Adam / AdamW, clip_grad_norm_), schedules by their
// formulas, state save/restore, and the validation rules.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "features/errors.h"
#include "models/optimizers.h"
#include "models/safetensors.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

using test::HasMessage;

// The problem of the golden sequences: two parameter tensors p0 [4], p1 [2, 2] (flattened) under the
// quadratic loss sum a (p - b)^2, gradient 2 a (p - b) computed in float as autograd does.
struct Quadratic {
  std::vector<float> p0{0.5f, -1.25f, 2.0f, 0.0f}, p1{1.5f, -0.75f, 0.25f, 3.0f};
  std::vector<float> a0{1.0f, 2.0f, 0.5f, 3.0f}, b0{0.1f, 0.2f, -0.3f, 0.4f};
  std::vector<float> a1{0.5f, 1.5f, 2.5f, 1.0f}, b1{-1.0f, 0.5f, 0.0f, 1.0f};
  std::vector<float> g0 = std::vector<float>(4), g1 = std::vector<float>(4);

  void Gradients() {
    for (size_t j = 0; j < 4; ++j) {
      g0[j] = 2.0f * (a0[j] * (p0[j] - b0[j]));
      g1[j] = 2.0f * (a1[j] * (p1[j] - b1[j]));
    }
  }
  double Step(Optimizer& opt, double lr) {
    Gradients();
    const std::array<std::span<float>, 2> params{std::span<float>(p0), std::span<float>(p1)};
    const std::array<std::span<const float>, 2> grads{std::span<const float>(g0), std::span<const float>(g1)};
    return opt.Step(params, grads, lr);
  }
  std::vector<float> All() const {
    std::vector<float> out = p0;
    out.insert(out.end(), p1.begin(), p1.end());
    return out;
  }
};

Optimizer MakeOptimizer(const OptimizerConfig& c) { return Optimizer(c, {"p0", "p1"}, {4, 4}); }

// Golden values: PyTorch 2.x on the same problem, 6 steps (zero_grad, loss.backward(), optional
// clip_grad_norm_, step). The script:
//
//   import torch
//   def run(make, steps=6, clip=0.0):
//       p0 = torch.tensor([0.5, -1.25, 2.0, 0.0], requires_grad=True)
//       p1 = torch.tensor([[1.5, -0.75], [0.25, 3.0]], requires_grad=True)
//       a0 = torch.tensor([1.0, 2.0, 0.5, 3.0]); b0 = torch.tensor([0.1, 0.2, -0.3, 0.4])
//       a1 = torch.tensor([[0.5, 1.5], [2.5, 1.0]]); b1 = torch.tensor([[-1.0, 0.5], [0.0, 1.0]])
//       opt = make([p0, p1])
//       for t in range(steps):
//           opt.zero_grad()
//           loss = (a0 * (p0 - b0) ** 2).sum() + (a1 * (p1 - b1) ** 2).sum()
//           loss.backward()
//           if clip > 0: torch.nn.utils.clip_grad_norm_([p0, p1], clip)
//           opt.step()
//       return [float(x) for x in p0.detach().flatten()] + [float(x) for x in p1.detach().flatten()]
//   cases = {
//    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.05),
//    "sgd_momentum_wd": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
//    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
//    "adam": lambda ps: torch.optim.Adam(ps, lr=0.1),
//    "adam_wd": lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
//    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1),
//   }
//   for k, f in cases.items(): print(k, ["%.9g" % x for x in run(f)])
//   print("adam_clip1", ["%.9g" % x for x in run(cases["adam"], clip=1.0)])
//   print("sgd_clip1", ["%.9g" % x for x in run(cases["sgd_momentum_wd"], clip=1.0)])
struct Golden {
  const char* name;
  OptimizerConfig config;
  double lr;
  std::array<double, 8> expected;
};

OptimizerConfig Sgd(double momentum, double wd = 0.0, bool nesterov = false, double clip = 0.0) {
  OptimizerConfig c;
  c.type = OptimizerType::kSgd;
  c.momentum = momentum;
  c.weight_decay = wd;
  c.nesterov = nesterov;
  c.clip_grad_norm = clip;
  return c;
}
OptimizerConfig AdamConfig(OptimizerType type, double wd = 0.0, double clip = 0.0) {
  OptimizerConfig c;
  c.type = type;
  c.weight_decay = wd;
  c.clip_grad_norm = clip;
  return c;
}

TEST_CASE("optimisers follow PyTorch's update rules step for step", "[models][training][optimizers]") {
  OptimizerConfig adam_wd = AdamConfig(OptimizerType::kAdam, 0.05);
  adam_wd.beta1 = 0.8;
  adam_wd.beta2 = 0.99;
  adam_wd.epsilon = 1e-6;
  const Golden cases[] = {
      {"sgd", Sgd(0.0), 0.05,
       {0.312576383, -0.180108801, 1.39071131, 0.352940381, 0.837729752, 0.0285631027, 0.0444946289, 2.06288171}},
      {"sgd_momentum_wd", Sgd(0.9, 0.01), 0.05,
       {-0.00485848496, 1.22831106, 0.259737164, 0.665170014, -0.386534721, 1.20273864, -0.183280244, 0.47257176}},
      {"sgd_nesterov", Sgd(0.8, 0.0, true), 0.05,
       {0.069631204, 0.581422508, 0.386947989, 0.459400177, -0.253317356, 0.794026196, -0.0550450943, 0.848156035}},
      {"adam", AdamConfig(OptimizerType::kAdam), 0.1,
       {-0.0149993189, -0.658019722, 1.40427411, 0.51499933, 0.903842509, -0.159999937, -0.13530837, 2.40513182}},
      {"adam_wd", adam_wd, 0.1,
       {0.00842861831, -0.663824618, 1.40781283, 0.488598078, 0.907186151, -0.166976959, -0.102546401, 2.40904641}},
      {"adamw", AdamConfig(OptimizerType::kAdamW, 0.1), 0.1,
       {-0.0231240056, -0.600906432, 1.30303752, 0.503492653, 0.831488132, -0.13173905, -0.132013842, 2.2463932}},
      {"adam_clip1", AdamConfig(OptimizerType::kAdam, 0.0, 1.0), 0.1,
       {-0.0212787762, -0.64981091, 1.39782882, 0.521278799, 0.89763248, -0.151022181, -0.116481125, 2.39824057}},
      {"sgd_clip1", Sgd(0.9, 0.01, false, 1.0), 0.05,
       {0.415734649, -0.6832816, 1.74780321, 0.220850974, 1.23174465, -0.376389712, 0.130539253, 2.57440901}},
  };
  for (const Golden& c : cases) {
    Quadratic q;
    Optimizer opt = MakeOptimizer(c.config);
    for (int t = 0; t < 6; ++t) q.Step(opt, c.lr);
    CHECK(opt.StepCount() == 6);
    const std::vector<float> got = q.All();
    for (size_t i = 0; i < 8; ++i) {
      INFO(c.name << " value " << i << ": expected " << c.expected[i] << ", got " << got[i]);
      // float32 on both sides; PyTorch's Adam uses lerp for m, so the last bits may differ.
      CHECK(std::abs(got[i] - c.expected[i]) <= 2e-6 * (1.0 + std::abs(c.expected[i])));
    }
  }
}

TEST_CASE("the first Adam step moves every parameter by the learning rate", "[models][training][optimizers]") {
  // With m = (1 - b1) g, v = (1 - b2) g^2 and the bias corrections, m_hat / sqrt(v_hat) = sign(g): the first
  // step is lr * sign(g) up to epsilon, whatever the gradient's size.
  Quadratic q;
  Optimizer opt = MakeOptimizer(AdamConfig(OptimizerType::kAdam));
  const std::vector<float> before = q.All();
  q.Step(opt, 0.01);
  const std::vector<float> after = q.All();
  const std::vector<float> grads = [&] {
    std::vector<float> g = q.g0;
    g.insert(g.end(), q.g1.begin(), q.g1.end());
    return g;
  }();
  for (size_t i = 0; i < 8; ++i) {
    INFO("value " << i);
    CHECK(after[i] - before[i] == Approx(grads[i] > 0 ? -0.01 : 0.01).margin(1e-6));  // float rounding of p
  }
}

TEST_CASE("the step returns the global gradient norm and skips non-finite gradients",
          "[models][training][optimizers]") {
  Quadratic q;
  Optimizer opt = MakeOptimizer(Sgd(0.9));
  q.Gradients();
  double expected = 0.0;
  for (float g : q.g0) expected += double{g} * g;
  for (float g : q.g1) expected += double{g} * g;
  CHECK(q.Step(opt, 0.1) == Approx(std::sqrt(expected)).epsilon(1e-12));

  const std::vector<float> before = q.All();
  q.Gradients();
  q.g1[2] = std::nanf("");
  const std::array<std::span<float>, 2> params{std::span<float>(q.p0), std::span<float>(q.p1)};
  const std::array<std::span<const float>, 2> grads{std::span<const float>(q.g0), std::span<const float>(q.g1)};
  CHECK(std::isnan(opt.Step(params, grads, 0.1)));
  CHECK(q.All() == before);
  CHECK(opt.StepCount() == 1);
}

TEST_CASE("clipping by global norm scales every tensor by max_norm / norm", "[models][training][optimizers]") {
  std::vector<float> a{3.0f, 0.0f}, b{0.0f, 4.0f};  // norm 5
  const std::array<std::span<float>, 2> t{std::span<float>(a), std::span<float>(b)};
  CHECK(ClipByGlobalNorm(t, 1.0) == Approx(5.0));
  const double f = 1.0 / (5.0 + 1e-6);
  CHECK(a[0] == Approx(3.0 * f));
  CHECK(b[1] == Approx(4.0 * f));
  const std::array<std::span<const float>, 2> c{std::span<const float>(a), std::span<const float>(b)};
  CHECK(GlobalNorm(c) == Approx(1.0).epsilon(1e-6));
  // Below the limit nothing changes.
  CHECK(ClipByGlobalNorm(t, 10.0) == Approx(1.0).epsilon(1e-6));
  CHECK(a[0] == Approx(3.0 * f));
}

TEST_CASE("saved optimiser state resumes bit for bit", "[models][training][optimizers]") {
  for (const OptimizerConfig& config :
       {AdamConfig(OptimizerType::kAdam), AdamConfig(OptimizerType::kAdamW, 0.1), Sgd(0.9, 0.01, true)}) {
    INFO(EnumToString(config.type));
    Quadratic straight;
    Optimizer a = MakeOptimizer(config);
    for (int t = 0; t < 6; ++t) straight.Step(a, 0.05);

    Quadratic resumed;
    Optimizer first = MakeOptimizer(config);
    for (int t = 0; t < 3; ++t) resumed.Step(first, 0.05);
    test::ScopedTempDir tmp;
    const std::string path = (tmp.path() / "state.safetensors").string();
    SafetensorsWriter w(path);
    first.SaveState(w);
    w.Close();
    Optimizer second = MakeOptimizer(config);
    second.LoadState(SafetensorsFile::Open(path));
    CHECK(second.StepCount() == 3);
    for (int t = 0; t < 3; ++t) resumed.Step(second, 0.05);
    CHECK(resumed.All() == straight.All());
  }
}

TEST_CASE("optimiser state of another kind or shape is refused", "[models][training][optimizers]") {
  test::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "state.safetensors").string();
  Optimizer adam = MakeOptimizer(AdamConfig(OptimizerType::kAdam));
  Quadratic q;
  q.Step(adam, 0.1);
  SafetensorsWriter w(path);
  adam.SaveState(w);
  w.Close();
  const SafetensorsFile file = SafetensorsFile::Open(path);

  Optimizer sgd = MakeOptimizer(Sgd(0.9));
  CHECK_THROWS_MATCHES(sgd.LoadState(file), ModelFormatError, HasMessage("optimizer state is for 'adam'", path));
  Optimizer bigger(AdamConfig(OptimizerType::kAdam), {"p0", "p1"}, {4, 5});
  CHECK_THROWS_MATCHES(bigger.LoadState(file), ModelFormatError, HasMessage("optimizer.p1.exp_avg", path));
  Optimizer other(AdamConfig(OptimizerType::kAdam), {"p0", "q"}, {4, 4});
  CHECK_THROWS_MATCHES(other.LoadState(file), ModelFormatError, HasMessage("no tensor 'optimizer.q.exp_avg'", path));
  CHECK(other.StepCount() == 0);  // a failed load leaves the optimiser as it was
}

TEST_CASE("mismatched parameters and gradients are refused with the slot's name", "[models][training][optimizers]") {
  Optimizer opt = MakeOptimizer(AdamConfig(OptimizerType::kAdam));
  std::vector<float> p0(4), p1(3), g0(4), g1(3);
  const std::array<std::span<float>, 2> params{std::span<float>(p0), std::span<float>(p1)};
  const std::array<std::span<const float>, 2> grads{std::span<const float>(g0), std::span<const float>(g1)};
  CHECK_THROWS_MATCHES(opt.Step(params, grads, 0.1), ConfigError, HasMessage("parameter 'p1' has 3 values"));
  CHECK_THROWS_MATCHES(opt.Step(std::span(params).first(1), std::span(grads).first(1), 0.1), ConfigError,
                       HasMessage("1 parameters and 1 gradients for 2 slots"));
  CHECK_THROWS_MATCHES(Optimizer(OptimizerConfig{}, {"a"}, {1, 2}), ConfigError,
                       HasMessage("1 parameter names for 2 sizes"));
}

TEST_CASE("optimiser and schedule validation names the field", "[models][training][optimizers]") {
  auto bad = [](auto mutate, const char* message) {
    OptimizerConfig c;
    mutate(c);
    INFO(message);
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage(message, "optimizer."));
  };
  bad([](OptimizerConfig& c) { c.learning_rate = 0; }, "learning_rate = 0; expected > 0");
  bad([](OptimizerConfig& c) { c.momentum = 1.0; }, "momentum = 1; expected in [0, 1)");
  bad([](OptimizerConfig& c) { c.beta1 = -0.1; }, "beta1 = -0.1; expected in [0, 1)");
  bad([](OptimizerConfig& c) { c.beta2 = 1.0; }, "beta2 = 1; expected in [0, 1)");
  bad([](OptimizerConfig& c) { c.epsilon = 0; }, "epsilon = 0; expected > 0");
  bad([](OptimizerConfig& c) { c.weight_decay = -1; }, "weight_decay = -1; expected >= 0");
  bad([](OptimizerConfig& c) { c.clip_grad_norm = -1; }, "clip_grad_norm = -1; expected >= 0");
  bad(
      [](OptimizerConfig& c) {
        c.type = OptimizerType::kSgd;
        c.momentum = 0;
        c.nesterov = true;
      },
      "nesterov = true; expected false when momentum is 0");

  auto bad_schedule = [](auto mutate, const char* message) {
    LrScheduleConfig c;
    mutate(c);
    INFO(message);
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage(message, "schedule."));
  };
  bad_schedule([](LrScheduleConfig& c) { c.warmup_steps = -1; }, "warmup_steps = -1; expected >= 0");
  bad_schedule([](LrScheduleConfig& c) { c.min_learning_rate = -1; }, "min_learning_rate = -1; expected >= 0");
  bad_schedule([](LrScheduleConfig& c) { c.plateau_factor = 1; }, "plateau_factor = 1; expected in (0, 1)");
  bad_schedule([](LrScheduleConfig& c) { c.plateau_patience = -2; }, "plateau_patience = -2; expected >= 0");
  bad_schedule([](LrScheduleConfig& c) { c.plateau_threshold = -1; }, "plateau_threshold = -1; expected >= 0");
}

TEST_CASE("warm-up and cosine schedule", "[models][training][schedule]") {
  LrScheduleConfig c;
  c.type = LrScheduleType::kWarmupCosine;
  c.warmup_steps = 4;
  c.min_learning_rate = 0.1;
  const LrSchedule s(c, 1.0, 14);  // 4 warm-up steps, then 10 decay steps (progress 0 .. 1 over steps 4 .. 13)
  CHECK(s.LearningRate(0) == Approx(0.25));
  CHECK(s.LearningRate(1) == Approx(0.5));
  CHECK(s.LearningRate(3) == Approx(1.0));
  CHECK(s.LearningRate(4) == Approx(1.0));
  // Step 8: progress (8 - 4) / 9, rate 0.1 + 0.9 * 0.5 * (1 + cos(pi progress)).
  CHECK(s.LearningRate(8) == Approx(0.1 + 0.45 * (1.0 + std::cos(std::numbers::pi * 4.0 / 9.0))));
  CHECK(s.LearningRate(13) == Approx(0.1));
  CHECK(s.LearningRate(20) == Approx(0.1));  // past the end it stays at the floor
  for (int64_t t = 4; t < 13; ++t) CHECK(s.LearningRate(t + 1) < s.LearningRate(t));

  LrScheduleConfig constant;
  constant.warmup_steps = 2;
  const LrSchedule k(constant, 0.01, 100);
  CHECK(k.LearningRate(0) == Approx(0.005));
  CHECK(k.LearningRate(1) == Approx(0.01));
  CHECK(k.LearningRate(99) == Approx(0.01));
}

TEST_CASE("reduce-on-plateau follows torch's ReduceLROnPlateau", "[models][training][schedule]") {
  LrScheduleConfig c;
  c.type = LrScheduleType::kReduceOnPlateau;
  c.plateau_patience = 1;
  c.plateau_factor = 0.5;
  c.plateau_threshold = 0.01;
  c.min_learning_rate = 0.02;
  LrSchedule s(c, 0.1, 1000);
  CHECK_FALSE(s.EndOfEpoch(0.50, true));   // first: best = 0.5
  CHECK_FALSE(s.EndOfEpoch(0.60, true));   // better
  CHECK_FALSE(s.EndOfEpoch(0.605, true));  // not better by 1 %: bad epoch 1 (= patience)
  CHECK(s.LearningRate(10) == Approx(0.1));
  CHECK(s.EndOfEpoch(0.55, true));         // bad epoch 2 > patience: halve
  CHECK(s.LearningRate(10) == Approx(0.05));
  CHECK_FALSE(s.EndOfEpoch(0.59, true));
  CHECK(s.EndOfEpoch(0.59, true));
  CHECK(s.LearningRate(10) == Approx(0.025));
  CHECK_FALSE(s.EndOfEpoch(0.59, true));
  CHECK(s.EndOfEpoch(0.59, true));         // 0.0125 would be below the floor
  CHECK(s.LearningRate(10) == Approx(0.02));
  CHECK_FALSE(s.EndOfEpoch(0.59, true));
  CHECK_FALSE(s.EndOfEpoch(0.59, true));   // already at the floor
  CHECK(s.LearningRate(10) == Approx(0.02));

  // Lower is better (a loss); the state round-trips.
  LrSchedule loss(c, 0.1, 1000);
  loss.EndOfEpoch(2.0, false);
  loss.EndOfEpoch(1.99, false);  // not 1 % lower
  const LrSchedule::State saved = loss.GetState();
  CHECK(loss.EndOfEpoch(1.985, false));
  LrSchedule restored(c, 0.1, 1000);
  restored.SetState(saved);
  CHECK(restored.EndOfEpoch(1.985, false));
  CHECK(restored.GetState() == loss.GetState());
  CHECK(restored.LearningRate(0) == Approx(0.05));
}


TEST_CASE("two threads give the same updates as one", "[models][optimizers][threads]") {
  // Tensors of 3, 1000 and 7 values: the halves of the 1010 values split the middle tensor.
  const std::vector<int64_t> sizes{3, 1000, 7};
  for (const OptimizerConfig& config :
       {AdamConfig(OptimizerType::kAdam), AdamConfig(OptimizerType::kAdamW), Sgd(0.9)}) {
    INFO(EnumToString(config.type));
    std::vector<std::vector<float>> p[2], g(3);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (size_t i = 0; i < 3; ++i) {
      p[0].emplace_back(static_cast<size_t>(sizes[i]));
      for (float& x : p[0][i]) x = u(rng);
      g[i].resize(static_cast<size_t>(sizes[i]));
    }
    p[1] = p[0];
    for (int threads : {1, 2}) {
      Optimizer opt(config, {"a", "b", "c"}, sizes, threads);
      auto& q = p[threads - 1];
      for (int step = 0; step < 3; ++step) {
        for (size_t i = 0; i < 3; ++i) {
          for (size_t j = 0; j < g[i].size(); ++j) g[i][j] = std::sin(static_cast<float>(step * 1000 + j) + q[i][j]);
        }
        const std::vector<std::span<float>> params{q[0], q[1], q[2]};
        const std::vector<std::span<const float>> grads{g[0], g[1], g[2]};
        opt.Step(params, grads, 0.01);
      }
    }
    for (size_t i = 0; i < 3; ++i) CHECK(p[0][i] == p[1][i]);
  }
}

}  // namespace
}  // namespace ossicle
