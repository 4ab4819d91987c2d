// BatchLoader: the epoch plan (shuffle, length bucketing), feature computation with augmentation and the
// on-disk feature cache, and the background threads.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "features/errors.h"
#include "pipeline/npy-file.h"
#include "pipeline/seed-hash.h"
#include "pipeline/training-data.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;

// Size and modification time (ns) of a file, "" when it cannot be read.
std::string FileStamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

void ShuffleIndices(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (size_t k = v.size(); k > 1; --k) {
    const auto r = std::min(static_cast<size_t>(Uniform01(rng) * static_cast<double>(k)), k - 1);
    std::swap(v[k - 1], v[r]);
  }
}

template <class T>
void ShuffleVector(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t k = v.size(); k > 1; --k) {
    const auto r = std::min(static_cast<size_t>(Uniform01(rng) * static_cast<double>(k)), k - 1);
    std::swap(v[k - 1], v[r]);
  }
}

}  // namespace

std::vector<std::vector<int64_t>> PlanBatches(const std::vector<double>& durations_s, const DataConfig& config,
                                              bool shuffle, bool drop_last, uint64_t rng_seed,
                                              double frame_rate_hz) {
  std::mt19937_64 rng(rng_seed);
  std::vector<int64_t> order(durations_s.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  if (shuffle) ShuffleIndices(order, rng);

  const auto batch = static_cast<size_t>(std::max(1, config.batch_size));
  if (config.bucket_pool_batches > 1) {
    // Within each pool, similar lengths end up next to each other (stable: ties keep the shuffled order).
    const size_t pool = batch * static_cast<size_t>(config.bucket_pool_batches);
    for (size_t start = 0; start < order.size(); start += pool) {
      const auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + pool));
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(start), end, [&](int64_t a, int64_t b) {
        return durations_s[static_cast<size_t>(a)] < durations_s[static_cast<size_t>(b)];
      });
    }
  }

  auto frames = [&](int64_t i) {
    return static_cast<int64_t>(std::ceil(std::max(0.0, durations_s[static_cast<size_t>(i)]) * frame_rate_hz));
  };
  std::vector<std::vector<int64_t>> batches;
  std::vector<int64_t> current;
  int64_t longest = 0;
  for (int64_t i : order) {
    const int64_t f = frames(i);
    const bool over_frames = config.max_batch_frames > 0 && !current.empty() &&
                             static_cast<int64_t>(current.size() + 1) * std::max(longest, f) > config.max_batch_frames;
    if (current.size() == batch || over_frames) {
      batches.push_back(std::move(current));
      current.clear();
      longest = 0;
    }
    current.push_back(i);
    longest = std::max(longest, f);
  }
  if (!current.empty() && !(drop_last && current.size() < batch)) batches.push_back(std::move(current));
  if (shuffle) ShuffleVector(batches, rng);
  return batches;
}

struct BatchLoader::Shared {
  const Dataset* dataset = nullptr;
  DataConfig config;
  uint64_t seed = 0;
  int64_t epoch = 0;
  bool train = true;
  std::unique_ptr<Augmenter> augmenter;  // training passes with some augmentation only
  std::string features_key;              // the part of the cache key that depends on the features
  const std::vector<std::vector<int64_t>>* plan = nullptr;

  std::mutex mutex;
  std::condition_variable changed;
  int64_t claimed = 0;    // next batch a worker will take
  int64_t consumed = 0;   // next batch Next() hands out
  bool stop = false;
  struct Slot {
    TrainingBatch batch;
    std::exception_ptr error;
  };
  std::map<int64_t, Slot> ready;
  std::vector<std::thread> threads;

  uint64_t ExampleSeed(int64_t index) const {
    return Mix64(Mix64(Mix64(seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(index));
  }

  bool WaveformAugmented() const { return augmenter && augmenter->Config().AnyWaveform(); }

  std::string CachePath(int64_t index) const {
    if (config.cache_dir.empty()) return {};
    const Example& ex = dataset->At(index);
    std::string key = features_key + "\n";
    if (ex.audio) {
      key += "memory:" + ex.id;  // synthetic clips are a pure function of their spec, which the id spells out
    } else {
      const std::string stamp = FileStamp(ex.audio_path);
      if (stamp.empty()) return {};
      key += fs::absolute(ex.audio_path).lexically_normal().string() + "\n" + stamp;
    }
    char name[40];
    std::snprintf(name, sizeof name, "%016" PRIx64 ".npy", Fnv1a64(key));
    return (fs::path(config.cache_dir) / name).string();
  }

  // Features of one example: from the cache when clean, else computed (and stored when clean). `zero_frames`:
  // the frames inside digital silence the augmentation added.
  FeatureMatrix Features(int64_t index, std::mt19937_64& rng, ZeroPadding* zero_frames) const {
    *zero_frames = {};
    const int dim = dataset->Features().Dim();
    if (!WaveformAugmented()) {
      const std::string path = CachePath(index);
      std::error_code ec;
      if (!path.empty() && fs::is_regular_file(path, ec)) {
        try {
          NpyMatrix m = ReadNpy(path);
          if (m.shape.size() == 2 && m.Cols() == dim && m.Rows() > 0) {
            FeatureMatrix f;
            f.num_frames = m.Rows();
            f.dim = dim;
            f.data = std::move(m.data);
            return f;
          }
        } catch (const Error&) {
          // A damaged cache file: compute again and replace it below.
        }
      }
      FeatureMatrix f = dataset->ExampleFeatures(index);
      if (!path.empty()) Store(path, f);
      return f;
    }
    std::vector<float> wave = dataset->LoadWaveform(index);
    const Example& ex = dataset->At(index);
    const bool has_class = dataset->Type() == TargetType::kClass && ex.label >= 0;
    const ZeroPadding pad = augmenter->ApplyToWaveform(
        wave, rng, has_class ? std::string_view(dataset->Labels()[static_cast<size_t>(ex.label)]) : "");
    FeatureMatrix f = ComputeFeatures(dataset->Features(), wave, dataset->GlobalCmvn());
    if (f.num_frames == 0) {
      throw AudioError(dataset->At(index).origin + ": the augmented audio (" + std::to_string(wave.size()) +
                       " samples) yields no feature frame");
    }
    if (pad.start > 0 || pad.end > 0) {
      *zero_frames = FramesInZeroPadding(dataset->Features().frame, static_cast<int64_t>(wave.size()), pad);
    }
    return f;
  }

  // Writes under a name unique to this thread, then renames: concurrent writers of one key never collide.
  static void Store(const std::string& path, const FeatureMatrix& f) {
    static std::atomic<uint64_t> counter{0};
    const std::string tmp = path + ".part" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    try {
      NpyWriter w(tmp, f.dim);
      w.AppendRows(f.data);
      w.Close();
      fs::rename(tmp, path, ec);
    } catch (const Error&) {
      // The cache is an optimisation: a full disk or a read-only folder must not stop training.
    }
    if (ec) fs::remove(tmp, ec);
  }

  TrainingBatch MakeBatch(int64_t k) const {
    const std::vector<int64_t>& indices = (*plan)[static_cast<size_t>(k)];
    const auto b = static_cast<int64_t>(indices.size());
    std::vector<FeatureMatrix> feats;
    feats.reserve(indices.size());
    int64_t longest = 0;
    const FeatureConfig& fc = dataset->Features();
    std::vector<ZeroPadding> zero_frames(indices.size());
    for (size_t i = 0; i < indices.size(); ++i) {
      const int64_t index = indices[i];
      std::mt19937_64 rng(ExampleSeed(index));
      FeatureMatrix f = Features(index, rng, &zero_frames[i]);
      if (augmenter) augmenter->ApplyToFeatures(f.data, f.num_frames, f.dim, fc.BaseDim(), rng);
      longest = std::max(longest, f.num_frames);
      feats.push_back(std::move(f));
    }
    TrainingBatch out;
    out.zero_frames = std::move(zero_frames);
    const int dim = fc.Dim();
    out.features.max_frames = longest;
    out.features.data = MatrixF::Zero(b * longest, dim);
    out.features.lengths.resize(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i) {
      const FeatureMatrix& f = feats[static_cast<size_t>(i)];
      out.features.lengths[static_cast<size_t>(i)] = f.num_frames;
      std::copy(f.data.begin(), f.data.end(), out.features.data.data() + i * longest * dim);
    }
    for (int64_t index : indices) {
      const Example& ex = dataset->At(index);
      if (dataset->Type() == TargetType::kClass) {
        out.labels.push_back(ex.label);
      } else {
        out.tokens.push_back(ex.tokens);
      }
      out.ids.push_back(ex.id);
      out.indices.push_back(index);
    }
    return out;
  }

  void Work() {
    while (true) {
      int64_t k = 0;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] {
          return stop || claimed >= static_cast<int64_t>(plan->size()) ||
                 claimed < consumed + config.prefetch_batches;
        });
        if (stop || claimed >= static_cast<int64_t>(plan->size())) return;
        k = claimed++;
      }
      Slot slot;
      try {
        slot.batch = MakeBatch(k);
      } catch (...) {
        slot.error = std::current_exception();
      }
      std::lock_guard lock(mutex);
      ready.emplace(k, std::move(slot));
      changed.notify_all();
    }
  }
};

ZeroPadding FramesInZeroPadding(const FrameConfig& frame, int64_t num_samples, const ZeroPadding& pad) {
  const int64_t frames = NumFrames(frame, num_samples);
  const int64_t window = frame.WindowSamples();
  ZeroPadding out;
  while (out.start < frames && FrameStart(frame, out.start) + window <= pad.start) ++out.start;
  while (out.start + out.end < frames && FrameStart(frame, frames - 1 - out.end) >= num_samples - pad.end) ++out.end;
  return out;
}

BatchLoader::BatchLoader(const Dataset& dataset, const DataConfig& config, uint64_t seed, int64_t epoch, bool train,
                         int64_t first_batch)
    : shared_(std::make_unique<Shared>()) {
  config.Validate();
  if (dataset.Size() == 0) throw ConfigError("data: the dataset is empty; expected at least one example");
  std::vector<double> durations(static_cast<size_t>(dataset.Size()));
  for (int64_t i = 0; i < dataset.Size(); ++i) {
    const Example& ex = dataset.At(i);
    if (ex.duration_s > config.max_duration_s) {
      throw ConfigError(ex.origin + ": lasts " + std::to_string(ex.duration_s) + " s; data.max_duration_s = " +
                        FormatValue(config.max_duration_s) + " (raise it or remove the example)");
    }
    durations[static_cast<size_t>(i)] = ex.duration_s;
  }
  const double frame_rate = 1000.0 / dataset.Features().frame.frame_shift_ms;
  plan_ = PlanBatches(durations, config, train && config.shuffle, train && config.drop_last,
                      Mix64(Mix64(seed) ^ static_cast<uint64_t>(epoch) ^ 0x706c616eULL), frame_rate);
  if (first_batch < 0 || first_batch > NumBatches()) {
    throw ConfigError("BatchLoader: first_batch = " + std::to_string(first_batch) + "; expected in [0, " +
                      std::to_string(NumBatches()) + "]");
  }
  next_ = first_batch;

  Shared& s = *shared_;
  s.dataset = &dataset;
  s.config = config;
  s.seed = seed;
  s.epoch = epoch;
  s.train = train;
  s.plan = &plan_;
  s.claimed = s.consumed = first_batch;
  const AugmentationConfig& aug = config.augmentation;
  if (train && (aug.AnyWaveform() || aug.spec_augment.probability > 0)) {
    s.augmenter = std::make_unique<Augmenter>(aug, dataset.Features().frame.sample_rate_hz);
  }
  if (!config.cache_dir.empty()) {
    s.features_key = ConfigToString(dataset.Features());
    if (dataset.Features().cmvn.mode == CmvnMode::kGlobal) {
      s.features_key += "\ncmvn:" + FileStamp(dataset.Features().cmvn.stats_file);
    }
  }
  for (int t = 0; t < config.workers; ++t) s.threads.emplace_back([&s] { s.Work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stop = true;
  }
  shared_->changed.notify_all();
  for (auto& t : shared_->threads) t.join();
}

bool BatchLoader::Next(TrainingBatch* batch) {
  if (next_ >= NumBatches()) return false;
  Shared& s = *shared_;
  const int64_t k = next_;
  if (s.threads.empty()) {
    ++next_;
    *batch = s.MakeBatch(k);
    return true;
  }
  Shared::Slot slot;
  {
    std::unique_lock lock(s.mutex);
    s.changed.wait(lock, [&] { return s.ready.count(k) > 0; });
    auto it = s.ready.find(k);
    slot = std::move(it->second);
    s.ready.erase(it);
    s.consumed = ++next_;
  }
  s.changed.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  *batch = std::move(slot.batch);
  return true;
}

}  // namespace ossicle
