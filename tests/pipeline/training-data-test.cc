#include "pipeline/training-data.h"

#include <sndfile.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numbers>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "support/bad-audio-files.h"
#include "support/message-matcher.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using test::HasMessage;
using test::ScopedTempDir;

const std::string kTrainingData = std::string(OSSICLE_SHARED_DIR) + "/data";

// Writes n tone files of different lengths (0.2 .. 1.4 s) and a manifest labelling them a/b/c in turn.
std::string WriteToneSet(const fs::path& dir, int n) {
  std::ofstream m(dir / "set.tsv");
  m << "path\tlabel\ttext\n";
  const char* labels[] = {"a", "b", "c"};
  for (int i = 0; i < n; ++i) {
    const std::string name = "tone" + std::to_string(i) + ".wav";
    const double seconds = 0.2 + 1.2 * static_cast<double>((i * 7) % n) / n;
    test::WriteSineFile(dir, name, 16000, 1, seconds, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 200.0 + 50.0 * i, 0.3);
    m << name << "\t" << labels[i % 3] << "\t" << labels[i % 3] << " " << labels[(i + 1) % 3] << "\n";
  }
  return (dir / "set.tsv").string();
}

FeatureConfig SmallFeatures() {
  FeatureConfig f = FeatureConfig::KaldiFbank(20);
  f.deltas.order = 1;
  return f;
}

ManifestColumns LabelColumns() {
  ManifestColumns c;
  c.label = "label";
  c.transcript = "text";
  return c;
}

// A class dataset (labels a, b, c) of WriteToneSet(dir, n).
Dataset ToneDataset(const fs::path& dir, int n) {
  Dataset data(TargetType::kClass, {"a", "b", "c"}, SmallFeatures());
  data.AddManifest(WriteToneSet(dir, n), LabelColumns());
  return data;
}

std::vector<TrainingBatch> AllBatches(const Dataset& data, const DataConfig& config, uint64_t seed, int64_t epoch,
                                      bool train = true, int64_t first = 0) {
  BatchLoader loader(data, config, seed, epoch, train, first);
  std::vector<TrainingBatch> out;
  TrainingBatch b;
  while (loader.Next(&b)) out.push_back(b);
  CHECK_FALSE(loader.Next(&b));
  return out;
}

void CheckSameBatches(const std::vector<TrainingBatch>& a, const std::vector<TrainingBatch>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    INFO("batch " << k);
    CHECK(a[k].ids == b[k].ids);
    CHECK(a[k].labels == b[k].labels);
    CHECK(a[k].tokens == b[k].tokens);
    CHECK(a[k].features.lengths == b[k].features.lengths);
    CHECK(a[k].features.max_frames == b[k].features.max_frames);
    REQUIRE(a[k].features.data.rows() == b[k].features.data.rows());
    CHECK((a[k].features.data == b[k].features.data));
    REQUIRE(a[k].zero_frames.size() == b[k].zero_frames.size());
    for (size_t i = 0; i < a[k].zero_frames.size(); ++i) {
      CHECK(a[k].zero_frames[i].start == b[k].zero_frames[i].start);
      CHECK(a[k].zero_frames[i].end == b[k].zero_frames[i].end);
    }
  }
}

// Mean over batches of (longest - shortest) duration within the batch.
double MeanSpread(const std::vector<std::vector<int64_t>>& plan, const std::vector<double>& d) {
  double total = 0;
  for (const auto& batch : plan) {
    double lo = 1e9, hi = -1e9;
    for (int64_t i : batch) {
      lo = std::min(lo, d[static_cast<size_t>(i)]);
      hi = std::max(hi, d[static_cast<size_t>(i)]);
    }
    total += hi - lo;
  }
  return total / static_cast<double>(plan.size());
}

TEST_CASE("batches: length bucketing puts similar lengths together, every example once", "[training-data]") {
  std::mt19937_64 rng(1);
  std::vector<double> durations(1000);
  for (double& d : durations) d = 0.5 + 4.5 * Uniform01(rng);
  DataConfig config;
  config.batch_size = 16;
  for (int pool : {0, 16}) {
    config.bucket_pool_batches = pool;
    const auto plan = PlanBatches(durations, config, true, false, 42, 100.0);
    std::vector<int64_t> all;
    for (const auto& b : plan) {
      REQUIRE(!b.empty());
      REQUIRE(b.size() <= 16);
      all.insert(all.end(), b.begin(), b.end());
    }
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i < all.size(); ++i) REQUIRE(all[i] == static_cast<int64_t>(i));
    INFO("pool " << pool << " mean spread " << MeanSpread(plan, durations));
    // Random batches of 16 from U(0.5, 5) span ~3.8 s on average; sorted pools of 256 span ~0.3 s.
    if (pool == 0) CHECK(MeanSpread(plan, durations) > 3.0);
    if (pool == 16) CHECK(MeanSpread(plan, durations) < 0.5);
  }
  SECTION("seeded: same seed same plan, another seed another plan") {
    config.bucket_pool_batches = 16;
    CHECK(PlanBatches(durations, config, true, false, 7, 100.0) == PlanBatches(durations, config, true, false, 7, 100.0));
    CHECK(PlanBatches(durations, config, true, false, 7, 100.0) != PlanBatches(durations, config, true, false, 8, 100.0));
  }
  SECTION("max_batch_frames caps batch size x longest example") {
    config.bucket_pool_batches = 16;
    config.max_batch_frames = 2000;  // at 100 frames/s
    const auto plan = PlanBatches(durations, config, true, false, 3, 100.0);
    for (const auto& b : plan) {
      double longest = 0;
      for (int64_t i : b) longest = std::max(longest, durations[static_cast<size_t>(i)]);
      const auto frames = static_cast<int64_t>(std::ceil(longest * 100.0));
      if (b.size() > 1) REQUIRE(static_cast<int64_t>(b.size()) * frames <= 2000);
    }
  }
  SECTION("drop_last drops only a short final batch") {
    std::vector<double> d(35, 1.0);
    config.bucket_pool_batches = 0;
    CHECK(PlanBatches(d, config, true, false, 1, 100.0).size() == 3);
    CHECK(PlanBatches(d, config, true, true, 1, 100.0).size() == 2);
  }
  SECTION("without shuffling the order is the dataset's (within sorted pools)") {
    std::vector<double> d = {3, 1, 2, 5, 4};
    config.batch_size = 2;
    config.bucket_pool_batches = 0;
    const auto plan = PlanBatches(d, config, false, false, 1, 100.0);
    CHECK(plan == std::vector<std::vector<int64_t>>{{0, 1}, {2, 3}, {4}});
    config.bucket_pool_batches = 4;
    CHECK(PlanBatches(d, config, false, false, 1, 100.0) == std::vector<std::vector<int64_t>>{{1, 2}, {0, 4}, {3}});
  }
}

TEST_CASE("batches: padded features equal the front end's, labels and ids in order", "[training-data][threads]") {
  ScopedTempDir tmp;
  const std::string manifest = WriteToneSet(tmp.path(), 10);
  Dataset data(TargetType::kClass, {"a", "b", "c"}, SmallFeatures());
  CHECK(data.AddManifest(manifest, LabelColumns()) == 10);
  CHECK(data.LabelCounts() == std::vector<int64_t>{4, 3, 3});
  DataConfig config;
  config.batch_size = 4;
  config.workers = 2;
  const auto batches = AllBatches(data, config, 1, 0, /*train=*/false);
  REQUIRE(batches.size() == 3);
  std::set<int64_t> seen;
  for (const TrainingBatch& b : batches) {
    const int64_t bs = b.features.BatchSize();
    REQUIRE(static_cast<int64_t>(b.labels.size()) == bs);
    REQUIRE(b.features.Dim() == 40);
    CHECK(b.tokens.empty());
    for (int64_t i = 0; i < bs; ++i) {
      const int64_t index = b.indices[static_cast<size_t>(i)];
      seen.insert(index);
      CHECK(b.ids[static_cast<size_t>(i)] == data.At(index).id);
      CHECK(b.labels[static_cast<size_t>(i)] == data.At(index).label);
      AudioReadConfig read;
      const FeatureMatrix f = ComputeFeatures(data.Features(), ReadAudioFile(data.At(index).audio_path, read));
      REQUIRE(b.features.lengths[static_cast<size_t>(i)] == f.num_frames);
      for (int64_t t = 0; t < b.features.max_frames; ++t) {
        for (int d = 0; d < 40; ++d) {
          const float got = b.features.data(i * b.features.max_frames + t, d);
          const float want = t < f.num_frames ? f.data[static_cast<size_t>(t * 40 + d)] : 0.0f;
          if (got != want) FAIL("example " << index << " frame " << t << " dim " << d << " expected " << want << " actual " << got);
        }
      }
    }
  }
  CHECK(seen.size() == 10);
}

TEST_CASE("batches: same seed gives the same batches with 2 workers, with augmentation", "[training-data][threads]") {
  ScopedTempDir tmp;
  const Dataset data = ToneDataset(tmp.path(), 24);
  DataConfig config;
  config.batch_size = 5;
  config.bucket_pool_batches = 2;
  config.workers = 2;
  config.prefetch_batches = 2;
  config.augmentation.noise.probability = 0.7;
  config.augmentation.speed.probability = 0.5;
  config.augmentation.shift.probability = 0.5;
  config.augmentation.gain.probability = 0.5;
  config.augmentation.spec_augment.probability = 0.5;
  const auto a = AllBatches(data, config, 99, 3);
  const auto b = AllBatches(data, config, 99, 3);
  CheckSameBatches(a, b);
  config.workers = 0;  // on the caller's thread: still the same
  CheckSameBatches(a, AllBatches(data, config, 99, 3));
  config.workers = 2;
  SECTION("another epoch is shuffled and augmented differently") {
    const auto c = AllBatches(data, config, 99, 4);
    bool differ = c.size() != a.size();
    for (size_t k = 0; !differ && k < a.size(); ++k) differ = a[k].ids != c[k].ids;
    CHECK(differ);
  }
  SECTION("resuming at batch 2 gives the remaining batches") {
    const auto rest = AllBatches(data, config, 99, 3, true, 2);
    CheckSameBatches(std::vector<TrainingBatch>(a.begin() + 2, a.end()), rest);
  }
  SECTION("stopping early does not hang") {
    BatchLoader loader(data, config, 99, 3);
    TrainingBatch batch;
    CHECK(loader.Next(&batch));
    CHECK(loader.BatchesDelivered() == 1);
  }
}

TEST_CASE("batches: digital silence is reported as the frames it fills", "[training-data]") {
  // Snip-edges frames of 400 samples every 160 (16 kHz, 25 / 10 ms).
  const FrameConfig frame = SmallFeatures().frame;
  ZeroPadding f = FramesInZeroPadding(frame, 1600 + 16000 + 800, {1600, 800});
  CHECK(f.start == 8);  // 160 t + 400 <= 1600: t = 0..7
  CHECK(f.end == 3);    // 113 frames; those starting at or after 17600: t = 110..112
  f = FramesInZeroPadding(frame, 16000, {0, 0});
  CHECK(f.start == 0);
  CHECK(f.end == 0);
  f = FramesInZeroPadding(frame, 1000, {1000, 1000});  // all zeros: 4 frames, counted once
  CHECK(f.start == 4);
  CHECK(f.end == 0);

  ScopedTempDir tmp;
  const Dataset data = ToneDataset(tmp.path(), 6);
  DataConfig config;
  config.batch_size = 3;
  config.workers = 0;
  config.augmentation.gain.probability = 1;
  for (const TrainingBatch& b : AllBatches(data, config, 5, 0)) {
    REQUIRE(b.zero_frames.size() == b.labels.size());
    for (const ZeroPadding& z : b.zero_frames) CHECK(z.start + z.end == 0);
  }
  config.augmentation.digital_silence = {1.0, {0.1, 0.3}};
  const auto batches = AllBatches(data, config, 5, 0);
  CheckSameBatches(batches, AllBatches(data, config, 5, 0));
  for (const TrainingBatch& b : batches) {
    REQUIRE(b.zero_frames.size() == b.labels.size());
    for (size_t i = 0; i < b.zero_frames.size(); ++i) {
      const ZeroPadding z = b.zero_frames[i];
      const int64_t len = b.features.lengths[i];
      CHECK(z.start + z.end >= 8);  // at least 0.1 s at one edge
      // The reported frames hold nothing but zeros (the log floor: dither is off); their neighbours do not.
      const auto base = [&](int64_t t) {
        return Eigen::VectorXf(b.features.data.block(static_cast<Eigen::Index>(i) * b.features.max_frames + t, 0, 1, 20).transpose());
      };
      for (int64_t t = 1; t < z.start; ++t) CHECK(base(t) == base(0));
      if (z.start > 0) CHECK(base(z.start).sum() > base(0).sum() + 1.0f);
      for (int64_t t = len - z.end; t < len - 1; ++t) CHECK(base(t) == base(len - 1));
      if (z.end > 0) CHECK(base(len - z.end - 1).sum() > base(len - 1).sum() + 1.0f);
    }
  }
}

TEST_CASE("batches: the feature cache serves un-augmented features", "[training-data]") {
  ScopedTempDir tmp;
  const Dataset data = ToneDataset(tmp.path(), 6);
  DataConfig config;
  config.batch_size = 3;
  config.cache_dir = (tmp.path() / "cache").string();
  config.augmentation.spec_augment.probability = 1.0;  // applied after the cache
  const auto first = AllBatches(data, config, 5, 0);
  int files = 0;
  for (const auto& e : fs::directory_iterator(config.cache_dir)) files += e.path().extension() == ".npy";
  CHECK(files == 6);
  const auto second = AllBatches(data, config, 5, 0);
  CheckSameBatches(first, second);
  config.cache_dir.clear();
  CheckSameBatches(first, AllBatches(data, config, 5, 0));
  SECTION("another feature configuration is another key") {
    FeatureConfig other = SmallFeatures();
    other.mel.num_mel_bins = 21;
    Dataset data2(TargetType::kClass, {"a", "b", "c"}, other);
    data2.AddManifest((tmp.path() / "set.tsv").string(), LabelColumns());  // ToneDataset's manifest
    config.cache_dir = (tmp.path() / "cache").string();
    const auto b = AllBatches(data2, config, 5, 0, false);
    CHECK(b[0].features.Dim() == 42);
    int n = 0;
    for (const auto& e : fs::directory_iterator(config.cache_dir)) n += e.path().extension() == ".npy";
    CHECK(n == 12);
  }
}

TEST_CASE("dataset: token targets for CTC", "[training-data]") {
  ScopedTempDir tmp;
  const std::string manifest = WriteToneSet(tmp.path(), 3);
  Dataset data(TargetType::kTokens, {"<blank>", " ", "a", "b", "c"}, SmallFeatures());
  data.AddManifest(manifest, LabelColumns());
  CHECK(data.At(0).tokens == std::vector<int32_t>{2, 1, 3});  // "a b"
  CHECK(data.At(2).tokens == std::vector<int32_t>{4, 1, 2});  // "c a"
  DataConfig config;
  config.batch_size = 3;
  const auto batches = AllBatches(data, config, 1, 0, false);
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].labels.empty());
  REQUIRE(batches[0].tokens.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(batches[0].tokens[i] == data.At(batches[0].indices[i]).tokens);
  CHECK(data.Tokenize("ab c", "x") == std::vector<int32_t>{2, 3, 1, 4});
  CHECK_THROWS_MATCHES(data.Tokenize("abd", "here"), ConfigError,
                       HasMessage("character 'd' (position 3 of 'abd') is not in the token set", "here:"));
}

TEST_CASE("dataset: word tokens are spelled by whole words, as the CTC decoders spell them", "[training-data]") {
  ScopedTempDir tmp;
  const std::string manifest = WriteToneSet(tmp.path(), 3);
  const std::string m = "\xE2\x96\x81";  // U+2581
  Dataset data(TargetType::kTokens, {"<blank>", m + "a", m + "b", m + "c", m + "cab"}, SmallFeatures());
  data.AddManifest(manifest, LabelColumns());
  CHECK(data.At(0).tokens == std::vector<int32_t>{1, 2});  // "a b"
  CHECK(data.At(2).tokens == std::vector<int32_t>{3, 1});  // "c a"
  CHECK(data.Tokenize("  cab a  c ", "x") == std::vector<int32_t>{4, 1, 3});  // longest match, spaces collapse
  CHECK_THROWS_MATCHES(data.Tokenize("a ab", "here"), ConfigError,
                       HasMessage("word 'ab' (word 2 of 'a ab') cannot be spelled with the word tokens", "here:"));
  CHECK_THROWS_MATCHES(data.Tokenize("  ", "here"), ConfigError, HasMessage("empty transcript", "here:"));
  // Without word markers a token of several characters is refused.
  CHECK_THROWS_MATCHES(Dataset(TargetType::kTokens, {"<blank>", "a", "ab"}, SmallFeatures()), ConfigError,
                       HasMessage("tokens[2] = 'ab'; expected one character", "dataset:"));
}

TEST_CASE("dataset: a damaged FLAC file is used as it decodes, its warning taken once", "[training-data]") {
  ScopedTempDir tmp;
  test::WriteSineFile(tmp.path(), "clean.flac", 16000, 1, 1.0, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 300.0, 0.3);
  test::WriteDamagedFlac(tmp.path(), "damaged.flac", 1.0, 300.0, 0.3);
  std::ofstream(tmp.path() / "m.tsv") << "path\tlabel\nclean.flac\tyes\ndamaged.flac\tno\n";
  Dataset data(TargetType::kClass, {"yes", "no"}, SmallFeatures());
  ManifestColumns c;
  c.label = "label";
  REQUIRE(data.AddManifest((tmp.path() / "m.tsv").string(), c) == 2);
  CHECK(data.LoadWaveform(0).size() == 16000);
  CHECK(data.TakeAudioWarnings().empty());
  CHECK(data.LoadWaveform(1).size() == 16000);  // all of it: the damaged frame as silence
  const std::vector<std::string> warnings = data.TakeAudioWarnings();
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::StartsWith(data.At(1).origin + ": ") && Catch::Contains("damaged FLAC data"));
  CHECK(data.TakeAudioWarnings().empty());  // taken
  data.LoadWaveform(1);
  CHECK(data.TakeAudioWarnings().empty());  // each file once
}

TEST_CASE("dataset: errors name the manifest line, the example or the field", "[training-data][threads]") {
  ScopedTempDir tmp;
  auto write = [&](const std::string& text) {
    std::ofstream(tmp.path() / "m.tsv") << text;
    return (tmp.path() / "m.tsv").string();
  };
  test::WriteSineFile(tmp.path(), "ok.wav", 16000, 1, 0.5, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  Dataset data(TargetType::kClass, {"yes", "no", "_unknown_"}, SmallFeatures());
  ManifestColumns c;
  c.label = "label";
  SECTION("a label the model cannot emit") {
    const std::string m = write("path\tlabel\nok.wav\tyes\nok.wav\tmaybe\n");
    CHECK_THROWS_MATCHES(data.AddManifest(m, c), ConfigError,
                         HasMessage("label 'maybe' is not one of the model's labels (yes, no, _unknown_)", m + ":3:"));
    CHECK(data.Size() == 0);  // nothing half-added
  }
  SECTION("unknown_label maps every other label") {
    const std::string m = write("path\tlabel\nok.wav\tyes\nok.wav\tmaybe\n");
    CHECK(data.AddManifest(m, c, "_unknown_") == 2);
    CHECK(data.At(1).label == 2);
    CHECK(data.At(1).origin == m + ":3");
    CHECK(data.At(0).duration_s == Approx(0.5));  // probed: the manifest has no duration column
  }
  SECTION("a missing audio file") {
    const std::string m = write("path\tlabel\nok.wav\tyes\ngone.wav\tno\n");
    CHECK_THROWS_MATCHES(data.AddManifest(m, c), AudioError, HasMessage("gone.wav: cannot open", m + ":3: "));
  }
  SECTION("no label column configured") {
    const std::string m = write("path\tlabel\nok.wav\tyes\n");
    CHECK_THROWS_MATCHES(data.AddManifest(m, ManifestColumns{}), ConfigError,
                         HasMessage("manifest.columns.label is empty", m));
  }
  SECTION("an example longer than data.max_duration_s") {
    const std::string m = write("path\tlabel\nok.wav\tyes\n");
    data.AddManifest(m, c);
    DataConfig config;
    config.max_duration_s = 0.25;
    CHECK_THROWS_MATCHES(BatchLoader(data, config, 1, 0), ConfigError,
                         HasMessage("lasts 0.5", m + ":2: "));
  }
  SECTION("an empty dataset") {
    CHECK_THROWS_MATCHES(BatchLoader(data, DataConfig{}, 1, 0), ConfigError, HasMessage("the dataset is empty"));
  }
  SECTION("audio that fails while loading is reported by Next() with its origin") {
    const std::string nan = test::WriteNanFloatWav(tmp.path());
    const std::string m = write("path\tlabel\nok.wav\tyes\n" + fs::path(nan).filename().string() + "\tno\n");
    data.AddManifest(m, c);
    DataConfig config;
    config.batch_size = 1;
    config.shuffle = false;
    config.bucket_pool_batches = 0;
    config.workers = 2;
    BatchLoader loader(data, config, 1, 0);
    TrainingBatch b;
    CHECK(loader.Next(&b));
    CHECK_THROWS_MATCHES(loader.Next(&b), AudioError, HasMessage("NaN", m + ":3: "));
  }
  SECTION("label sets") {
    CHECK_THROWS_MATCHES(Dataset(TargetType::kClass, {}, SmallFeatures()), ConfigError,
                         HasMessage("no class labels"));
    CHECK_THROWS_MATCHES(Dataset(TargetType::kClass, {"a", "b", "a"}, SmallFeatures()), ConfigError,
                         HasMessage("class labels[2] = 'a' appears twice"));
    CHECK_THROWS_MATCHES(Dataset(TargetType::kTokens, {"<b>", "a", "bc"}, SmallFeatures()), ConfigError,
                         HasMessage("tokens[2] = 'bc'; expected one character"));
  }
  SECTION("Add checks targets and sources") {
    Example ex;
    ex.audio_path = (tmp.path() / "ok.wav").string();
    ex.label = 3;
    CHECK_THROWS_MATCHES(data.Add(ex), ConfigError, HasMessage("class index 3; expected in [0, 2]"));
    ex.label = 1;
    data.Add(ex);
    CHECK(data.At(0).duration_s == Approx(0.5));
    ex.audio = std::make_shared<SynthesizedAudio>();
    CHECK_THROWS_MATCHES(data.Add(ex), ConfigError, HasMessage("expected exactly one audio source"));
  }
}

TEST_CASE("data config: every validation rule names its field", "[training-data]") {
  auto check = [](const DataConfig& c, const std::string& part) {
    CHECK_THROWS_MATCHES(c.Validate(), ConfigError, HasMessage(part, "data."));
  };
  DataConfig c;
  CHECK_NOTHROW(c.Validate());
  auto d = c;
  d.batch_size = 0;
  check(d, "data.batch_size = 0; expected in [1, 1000000]");
  d = c;
  d.max_batch_frames = -1;
  check(d, "data.max_batch_frames = -1; expected >= 0");
  d = c;
  d.workers = 65;
  check(d, "data.workers = 65; expected in [0, 64]");
  d = c;
  d.prefetch_batches = 0;
  check(d, "data.prefetch_batches = 0");
  d = c;
  d.max_duration_s = 0;
  check(d, "data.max_duration_s = 0; expected > 0");
  d = c;
  d.augmentation.noise.probability = 2;
  check(d, "data.augmentation.noise.probability = 2");
  d = c;
  d.synthetic.examples_per_text = 2;
  check(d, "data.synthetic.texts is empty");
  d.synthetic.texts = {"yes", " =x"};
  check(d, "data.synthetic.texts[1] = ' =x'; expected a non-blank text");
  d.synthetic.texts = {"yes", "no="};
  check(d, "data.synthetic.texts[1] = 'no='; expected a label after '='");
  d.synthetic.texts = {"yes"};
  d.synthetic.engines = {"espeak-ng", "sam"};
  check(d, "data.synthetic.engines[1] = 'sam'; expected espeak-ng, flite or festival");
  d.synthetic.engines = {"flite"};
  d.synthetic.voices = {"espeak-ng:en-us"};
  check(d, "data.synthetic.voices[0] = 'espeak-ng:en-us'; engine 'espeak-ng' is not in data.synthetic.engines");
  d.synthetic.voices = {"kal"};
  check(d, "data.synthetic.voices[0] = 'kal'; expected engine:voice");
  d = c;
  d.synthetic.rate = {0.1, 1};
  check(d, "data.synthetic.rate.min = 0.1; expected in [0.25, 4]");
  d = c;
  d.synthetic.padding_s = {0.5, 0.2};
  check(d, "data.synthetic.padding_s.max = 0.2; expected >= min");
  d.synthetic.padding_s = {-0.1, 0.2};
  check(d, "data.synthetic.padding_s.min = -0.1; expected in [0, 5]");
}

TEST_CASE("PadWithNoiseFloor: the speech in the middle, a -70..-45 dB floor around it", "[training-data]") {
  const std::vector<float> speech{0.5f, -0.5f, 0.25f};
  std::mt19937_64 rng(3);
  const std::vector<float> clip = PadWithNoiseFloor(speech, 4, 2, rng);
  REQUIRE(clip.size() == 9);
  double floor_power = 0;
  for (size_t k = 0; k < clip.size(); ++k) {
    INFO("sample " << k);
    if (k >= 4 && k < 7) {
      CHECK(clip[k] == Approx(speech[k - 4]).margin(0.01));  // the floor is at most -45 dB (0.0056)
    } else {
      CHECK(clip[k] != 0.0f);
      CHECK(std::abs(clip[k]) < 0.03f);
      floor_power += static_cast<double>(clip[k]) * clip[k];
    }
  }
  CHECK(floor_power > 0);
  std::mt19937_64 same(3);
  CHECK(PadWithNoiseFloor(speech, 4, 2, same) == clip);  // a pure function of the generator
}

TEST_CASE("dataset: synthetic keyword examples from their spelling", "[training-data][speech-synth][threads]") {
  std::vector<std::string> engines;
  for (const std::string& e : SpeechEngineNames()) {
    const std::string reason = SpeechEngineUnavailableReason(e);
    if (reason.empty()) {
      engines.push_back(e);
    } else {
      WARN("skipped engine: " << reason);
    }
  }
  if (engines.empty()) return;
  ScopedTempDir tmp;
  Dataset data(TargetType::kClass, {"yes", "no", "_unknown_"}, SmallFeatures());
  SyntheticSpeechConfig s;
  s.texts = {"yes", "house=_unknown_"};
  s.examples_per_text = static_cast<int>(engines.size()) + 1;
  s.engines = engines;
  s.cache_dir = (tmp.path() / "synth").string();
  const int64_t added = data.AddSynthetic(s, 17, 2);
  CHECK(added == 2 * s.examples_per_text);
  REQUIRE(data.Size() == added);
  std::set<std::string> used_engines;
  for (int64_t i = 0; i < data.Size(); ++i) {
    const Example& ex = data.At(i);
    INFO(ex.origin);
    REQUIRE(ex.synthesis.has_value());
    used_engines.insert(ex.synthesis->engine);
    CHECK(ex.label == (ex.synthesis->text == "yes" ? 0 : 2));
    CHECK(ex.synthesis->rate >= 0.8);
    CHECK(ex.synthesis->rate <= 1.25);
    CHECK(ex.duration_s > 0.1);
    CHECK(ex.id.rfind("synthetic:" + ex.synthesis->engine + ":", 0) == 0);
  }
  CHECK(used_engines.size() == engines.size());  // the engines take turns
  // Cached on disk: the same plan again reads every clip back (identical audio, no new files).
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(s.cache_dir)) files += e.path().extension() == ".wav";
  CHECK(files == added);
  Dataset again(TargetType::kClass, {"yes", "no", "_unknown_"}, SmallFeatures());
  again.AddSynthetic(s, 17, 1);
  for (int64_t i = 0; i < data.Size(); ++i) {
    CHECK(again.At(i).id == data.At(i).id);
    CHECK((again.At(i).audio->samples == data.At(i).audio->samples));
  }
  // Batches of synthetic examples work like files (resampled to the features' rate).
  DataConfig config;
  config.batch_size = 4;
  const auto batches = AllBatches(data, config, 1, 0);
  int64_t total = 0;
  for (const auto& b : batches) total += b.features.BatchSize();
  CHECK(total == added);
  {  // padding_s: silence around each clip; the id names it, the synthesis (and its cache) stay the same
    SyntheticSpeechConfig p = s;
    p.padding_s = {0.2, 0.3};
    Dataset padded(TargetType::kClass, {"yes", "no", "_unknown_"}, SmallFeatures());
    padded.AddSynthetic(p, 17, 1);
    REQUIRE(padded.Size() == data.Size());
    for (int64_t i = 0; i < data.Size(); ++i) {
      const Example& bare = data.At(i);
      const Example& ex = padded.At(i);
      INFO(ex.id);
      CHECK(ex.id.find(":pad=") != std::string::npos);
      CHECK(ex.duration_s >= bare.duration_s + 0.4 - 1e-3);
      CHECK(ex.duration_s <= bare.duration_s + 0.6 + 1e-3);
      CHECK(ex.audio->sample_rate_hz == bare.audio->sample_rate_hz);
    }
  }
  {  // rate_by_label: "yes" gets its own rate range; "house" keeps its voice, rate and pitch (same draws)
    Dataset slow(TargetType::kClass, {"yes", "no", "_unknown_"}, SmallFeatures());
    slow.AddSynthetic(s, 17, 1, {{"yes", {0.5, 0.6}}});
    REQUIRE(slow.Size() == data.Size());
    int yes = 0;
    for (int64_t i = 0; i < data.Size(); ++i) {
      const Example& ex = slow.At(i);
      const Example& before = data.At(i);
      INFO(ex.id);
      REQUIRE(ex.synthesis.has_value());
      CHECK(ex.synthesis->voice == before.synthesis->voice);
      CHECK(ex.synthesis->pitch == before.synthesis->pitch);
      if (ex.synthesis->text == "yes") {
        ++yes;
        CHECK(ex.synthesis->rate >= 0.5);
        CHECK(ex.synthesis->rate <= 0.6);
        CHECK(ex.synthesis->rate < before.synthesis->rate);
        CHECK(ex.id != before.id);
      } else {
        CHECK(ex.id == before.id);
        CHECK((ex.audio->samples == before.audio->samples));
      }
    }
    CHECK(yes == s.examples_per_text);
    CHECK_THROWS_MATCHES(slow.AddSynthetic(s, 17, 1, {{"yes", {0.1, 0.6}}}), ConfigError,
                         HasMessage(".min = 0.1", "rate for label 'yes'"));
  }
  {  // a label the model cannot emit
    s.texts = {"maybe"};
    CHECK_THROWS_MATCHES(data.AddSynthetic(s, 1), ConfigError,
                         HasMessage("label 'maybe' is not one of the model's labels", "data.synthetic.texts[0]:"));
  }
  {  // a voice the engine does not have
    s.texts = {"yes"};
    s.engines = {engines[0]};
    s.voices = {engines[0] + ":nobody"};
    CHECK_THROWS_MATCHES(data.AddSynthetic(s, 1), ConfigError,
                         HasMessage(engines[0] + " has no voice 'nobody'", "data.synthetic.voices[0] = "));
  }
}

TEST_CASE("dataset: the real shared data sets load and batch", "[training-data]") {
  if (!fs::is_directory(kTrainingData)) {
    WARN("skipped: " << kTrainingData << " is absent");
    return;
  }
  Dataset data(TargetType::kClass, {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                                    "_unknown_", "_silence_"},
               FeatureConfig::KaldiFbank(40));
  ManifestColumns c;
  c.label = "label";
  c.duration = "duration_s";
  CHECK(data.AddManifest(kTrainingData + "/speech-commands/dev.tsv", c) == 564);
  CHECK(data.TotalDurationSeconds() == Approx(564.0).margin(1.0));
  DataConfig config;
  config.batch_size = 8;
  config.augmentation.noise.probability = 1;
  config.augmentation.noise.background_weight = 1;
  config.augmentation.noise.background_manifest = kTrainingData + "/background/manifest.tsv";
  BatchLoader loader(data, config, 1, 0);
  TrainingBatch b;
  REQUIRE(loader.Next(&b));
  CHECK(b.features.BatchSize() == 8);
  CHECK(b.features.Dim() == 40);
  CHECK(b.features.max_frames == 98);  // 1 s at 25 ms / 10 ms, snip edges
  CHECK(loader.NumBatches() == 71);
}

}  // namespace
}  // namespace ossicle
