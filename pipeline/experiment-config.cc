#include "pipeline/experiment-config.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "features/errors.h"
#include "models/decoder-support.h"

namespace ossicle {

namespace {

constexpr const char* kBlankToken = "<blank>";

const std::vector<std::string_view> kTopKeys = {"name",     "description", "seed", "target",   "labels",
                                                "tokens",   "word_tokens", "features_file", "features", "model", "data",
                                                "training", "outputs", "init_from", "init_from_member"};
const std::vector<std::string_view> kDataKeys = {"train", "dev", "loader"};

void CheckExperimentKeys(const YAML::Node& node, const YamlSource& source, const std::string& path,
               const std::vector<std::string_view>& names) {
  if (!node.IsMap()) ThrowYamlError(source, node, path, "expected a mapping of keys to values");
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    if (std::find(names.begin(), names.end(), key) != names.end()) continue;
    std::string what = "unknown key '" + key + "'";
    const std::string near = NearestName(key, names);
    if (!near.empty()) what += " (did you mean '" + near + "'?)";
    ThrowYamlError(source, kv.first, path, what);
  }
}

// Records "file:line:column" of every key and list item under `node`.
void RecordMarks(const YAML::Node& node, const YamlSource& source, const std::string& path,
                 std::map<std::string, std::string>& marks) {
  if (!path.empty() && !node.Mark().is_null()) marks[path] = FormatMark(source, node.Mark());
  if (node.IsMap()) {
    for (const auto& kv : node) RecordMarks(kv.second, source, JoinKey(path, kv.first.Scalar()), marks);
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) RecordMarks(node[i], source, path + "[" + std::to_string(i) + "]", marks);
  }
}

// Splits UTF-8 text into code points, each kept as its UTF-8 bytes. Empty optional on malformed text.
bool SplitUtf8(std::string_view text, std::vector<std::string>& out) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    }
    out.emplace_back(text.substr(i, n));
    i += n;
  }
  return true;
}

// Reads a list of manifest sources (a sequence of mappings, or one mapping).
std::vector<ManifestSource> ReadSources(const YAML::Node& node, const YamlSource& source, const std::string& path) {
  std::vector<ManifestSource> out;
  if (!node.IsDefined() || node.IsNull()) return out;
  auto read_one = [&](const YAML::Node& item, const std::string& item_path) {
    ManifestSource s;
    if (!item.IsMap()) {
      ThrowYamlError(source, item, item_path, "expected a mapping {manifest: FILE, columns: {...}}");
    }
    ReadConfig(item, s, source, item_path);
    if (s.manifest.empty()) ThrowYamlError(source, item, item_path, "missing key 'manifest' (the TSV file)");
    out.push_back(std::move(s));
  };
  if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) read_one(node[i], path + "[" + std::to_string(i) + "]");
  } else {
    read_one(node, path + "[0]");
  }
  return out;
}

// The dotted key a RuleMessage starts with ("training.optimizer.beta1 = 2; expected ..."), or "".
std::string RuleKey(const std::string& message) {
  const size_t eq = message.find(" = ");
  if (eq == std::string::npos || message.find(' ') < eq) return "";
  return message.substr(0, eq);
}

}  // namespace

std::string ExperimentConfig::Where(const std::string& key_path) const {
  std::string key = key_path;
  while (!key.empty()) {
    auto it = marks.find(key);
    if (it != marks.end()) return it->second + ": ";
    const size_t cut = std::max(key.rfind('.') == std::string::npos ? 0 : key.rfind('.'),
                                key.rfind('[') == std::string::npos ? 0 : key.rfind('['));
    key.resize(cut);
  }
  return (source_file.empty() ? std::string("<yaml>") : source_file) + ": ";
}

std::string ExperimentConfig::OutputDir() const { return outputs.dir.empty() ? "runs/" + name : outputs.dir; }

namespace {

ExperimentConfig Parse(const YAML::Node& root, const YamlSource& source, const std::vector<std::string>& overrides) {
  ExperimentConfig c;
  c.source_file = source.file;
  if (!root.IsDefined() || root.IsNull()) ThrowYamlError(source, root, "", "the experiment file is empty");
  CheckExperimentKeys(root, source, "", kTopKeys);
  RecordMarks(root, source, "", c.marks);
  // Values set by --set have no place in the file: name the option instead.
  for (const std::string& o : overrides) {
    const std::string key = o.substr(0, o.find('='));
    std::erase_if(c.marks, [&](const auto& kv) {
      return kv.first == key || kv.first.rfind(key + ".", 0) == 0 || kv.first.rfind(key + "[", 0) == 0;
    });
    c.marks[key] = "--set " + o;
  }

  auto scalar = [&](const char* key, auto& value) {
    const YAML::Node n = root[key];
    if (n.IsDefined() && !n.IsNull()) value = ReadScalar<std::remove_cvref_t<decltype(value)>>(n, source, key);
  };
  scalar("name", c.name);
  scalar("description", c.description);
  scalar("seed", c.seed);
  scalar("tokens", c.tokens);
  scalar("features_file", c.features_file);
  scalar("init_from", c.init_from);
  scalar("init_from_member", c.init_from_member);
  if (const YAML::Node n = root["target"]; n.IsDefined() && !n.IsNull()) {
    const std::string text = ReadScalar<std::string>(n, source, "target");
    const auto parsed = EnumFromString<TargetType>(text);
    if (!parsed) ThrowYamlError(source, n, "target", "'" + text + "' is not one of " + EnumChoices<TargetType>());
    c.target = *parsed;
  }
  if (!c.features_file.empty() && std::filesystem::path(c.features_file).is_relative()) {
    c.features_file = (source.base_dir / c.features_file).lexically_normal().string();
  }
  if (!c.init_from.empty() && std::filesystem::path(c.init_from).is_relative()) {
    c.init_from = (source.base_dir / c.init_from).lexically_normal().string();
  }

  // Labels and word tokens: a list of names (or one name).
  auto read_names = [&](const char* key) {
    std::vector<std::string> names;
    if (const YAML::Node n = root[key]; n.IsDefined() && !n.IsNull()) {
      if (!n.IsSequence()) return std::vector<std::string>{ReadScalar<std::string>(n, source, key)};
      for (size_t i = 0; i < n.size(); ++i) {
        names.push_back(ReadScalar<std::string>(n[i], source, std::string(key) + "[" + std::to_string(i) + "]"));
      }
    }
    return names;
  };
  const std::vector<std::string> given_labels = read_names("labels");
  const std::vector<std::string> given_words = read_names("word_tokens");

  // Features: the base file first, then the inline keys on top.
  if (!c.features_file.empty()) {
    YamlSource fsource;
    const YAML::Node froot = [&] {
      try {
        return LoadYamlFile(c.features_file, fsource);
      } catch (const IoError&) {
        throw ConfigError(c.Where("features_file") + "features_file: '" + c.features_file + "' cannot be read");
      }
    }();
    ReadConfig(froot, c.features, fsource, "features");
  }
  if (root["features"].IsDefined()) ReadConfig(root["features"], c.features, source, "features");

  // The model: input_size and num_classes derived unless given.
  c.model.input_size = 0;
  c.model.num_classes = 0;
  if (root["model"].IsDefined()) ReadConfig(root["model"], c.model, source, "model");

  if (const YAML::Node data = root["data"]; data.IsDefined() && !data.IsNull()) {
    CheckExperimentKeys(data, source, "data", kDataKeys);
    c.train = ReadSources(data["train"], source, "data.train");
    c.dev = ReadSources(data["dev"], source, "data.dev");
    if (data["loader"].IsDefined()) ReadConfig(data["loader"], c.loader, source, "data.loader");
  }
  if (root["training"].IsDefined()) ReadConfig(root["training"], c.training, source, "training");
  if (root["outputs"].IsDefined()) ReadConfig(root["outputs"], c.outputs, source, "outputs");

  // ---- rules
  auto fail = [&](const std::string& key, const std::string& what) { throw ConfigError(c.Where(key) + what); };
  // Validate() messages start with the key path: prefix them with its place in the file.
  auto validate = [&](auto&& fn) {
    try {
      fn();
    } catch (const ConfigError& e) {
      throw ConfigError(c.Where(RuleKey(e.what())) + e.what());
    }
  };
  if (c.name.empty()) fail("name", "name: expected a non-empty run name");
  if (root["init_from_member"].IsDefined() && c.init_from.empty()) {
    fail("init_from_member", "init_from_member: only with init_from (the ensemble to take the member from)");
  }
  if (root["init_from_member"].IsDefined() && c.init_from_member < 0) {
    fail("init_from_member", "init_from_member = " + std::to_string(c.init_from_member) +
                                 "; expected a member index >= 0 (members.0. is the first)");
  }
  if (c.target == TargetType::kClass) {
    if (!c.tokens.empty()) fail("tokens", "tokens: only for target tokens (this experiment's target is class)");
    if (!given_words.empty()) {
      fail("word_tokens", "word_tokens: only for target tokens (this experiment's target is class)");
    }
    if (given_labels.empty()) fail("labels", "labels: expected the list of class names (target class)");
    c.labels = given_labels;
  } else {
    if (!given_labels.empty()) {
      fail("labels", "labels: target tokens takes `tokens` (the characters), not labels; the blank is added");
    }
    c.labels = {kBlankToken};
    if (!given_words.empty()) {
      if (!c.tokens.empty()) {
        fail("word_tokens", "word_tokens: give either tokens (characters) or word_tokens (whole words), not both");
      }
      for (size_t i = 0; i < given_words.size(); ++i) {
        const std::string& w = given_words[i];
        const std::string key = "word_tokens[" + std::to_string(i) + "]";
        std::vector<std::string> chars;
        if (!SplitUtf8(w, chars)) fail(key, key + ": not valid UTF-8");
        if (w.empty() || w.find_first_of(" \t") != std::string::npos) {
          fail(key, key + ": '" + w + "'; expected one word without spaces");
        }
        c.labels.push_back(std::string(kWordMarker) + w);
        c.word_tokens.push_back(w);
      }
    } else {
      std::vector<std::string> chars;
      if (!SplitUtf8(c.tokens, chars)) fail("tokens", "tokens: not valid UTF-8");
      if (chars.empty()) {
        fail("tokens",
             "tokens: expected the token characters, e.g. \" 'abcdefghijklmnopqrstuvwxyz\", or word_tokens: "
             "[the, words]");
      }
      c.labels.insert(c.labels.end(), chars.begin(), chars.end());
    }
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < c.labels.size(); ++i) {
    const std::string& l = c.labels[i];
    const std::string key = c.target == TargetType::kClass ? "labels[" + std::to_string(i) + "]"
                            : c.word_tokens.empty()        ? "tokens"
                                                           : "word_tokens[" + std::to_string(i - 1) + "]";
    if (l.empty()) fail(key, key + ": empty label");
    if (!seen.insert(l).second) fail(key, key + ": '" + l + "' appears twice");
  }

  validate([&] { c.features.Validate("features"); });
  const int dim = c.features.Dim();
  const int classes = static_cast<int>(c.labels.size());
  const std::string what_classes = c.target == TargetType::kClass
                                       ? std::to_string(classes) + " labels"
                                       : std::to_string(classes - 1) + " tokens + the blank";
  if (c.model.input_size == 0) {
    c.model.input_size = dim;
  } else if (c.model.input_size != dim) {
    fail("model.input_size", "model.input_size = " + std::to_string(c.model.input_size) + "; the features give " +
                                 std::to_string(dim) + " values per frame (leave it out to derive it)");
  }
  if (c.model.num_classes == 0) {
    c.model.num_classes = classes;
  } else if (c.model.num_classes != classes) {
    fail("model.num_classes",
         "model.num_classes = " + std::to_string(c.model.num_classes) + "; expected " + std::to_string(classes) +
             " for the " + what_classes + (c.model.num_classes < classes ? " (the model could not emit them all)" : "") +
             " (leave it out to derive it)");
  }
  validate([&] { c.model.Validate("model"); });
  if (c.target == TargetType::kTokens && c.model.head != HeadType::kFrame) {
    fail("model.head", "model.head = attention; expected frame for target tokens (CTC needs a frame output)");
  }

  if (c.training.frame_targets == FrameTargets::kSpeech &&
      (c.target != TargetType::kClass || c.model.head != HeadType::kFrame)) {
    fail("training.frame_targets", std::string("training.frame_targets = speech; expected clip for ") +
                                       (c.target != TargetType::kClass ? "target tokens" : "model.head attention") +
                                       " (speech needs target class and model.head frame)");
  }
  if (c.train.empty()) fail("data.train", "data.train: expected at least one training manifest");
  validate([&] { c.loader.Validate("data.loader"); });
  const TrainingConfig& t = c.training;
  auto check = [&](bool ok, const char* field, const auto& value, const char* rule) {
    if (!ok) fail(std::string("training.") + field, RuleMessage("training", field, value, rule));
  };
  check(t.epochs >= 1, "epochs", t.epochs, ">= 1");
  check(t.max_steps >= 0, "max_steps", t.max_steps, ">= 0 (0 = no cap)");
  check(t.early_stopping_patience >= 0, "early_stopping_patience", t.early_stopping_patience, ">= 0 (0 = off)");
  check(t.log_every_steps >= 1, "log_every_steps", t.log_every_steps, ">= 1");
  check(t.checkpoint_every_steps >= 0, "checkpoint_every_steps", t.checkpoint_every_steps, ">= 0 (0 = epoch ends)");
  const std::string frozen_rule = "between 0 and model.num_layers (" + std::to_string(c.model.num_layers) + ")";
  check(t.frozen_layers >= 0 && t.frozen_layers <= c.model.num_layers, "frozen_layers", t.frozen_layers,
        frozen_rule.c_str());
  validate([&] { t.optimizer.Validate("training.optimizer"); });
  validate([&] { t.schedule.Validate("training.schedule"); });
  validate([&] { TrainingPassConfig{t.dropout, t.num_threads}.Validate("training"); });
  validate([&] { t.cross_entropy.Validate("training.cross_entropy", classes); });
  if (c.outputs.model.empty()) fail("outputs.model", "outputs.model: expected a file name");
  if (c.outputs.metrics.empty()) fail("outputs.metrics", "outputs.metrics: expected a file name");

  YAML::Emitter out;
  out << root;
  c.yaml = out.c_str();
  return c;
}

}  // namespace

ExperimentConfig ParseExperimentConfig(const YAML::Node& root, const YamlSource& source) {
  return Parse(root, source, {});
}

ExperimentConfig LoadExperimentConfig(const std::string& yaml_path, const std::vector<std::string>& overrides) {
  YamlSource source;
  YAML::Node root = LoadYamlFile(yaml_path, source);
  if (root.IsNull()) ThrowYamlError(source, root, "", "the experiment file is empty");
  for (const std::string& o : overrides) ApplyOverride(root, o);
  try {
    return Parse(root, source, overrides);
  } catch (const ConfigError& e) {
    // A value from --set carries the mark of the text it was parsed from (line 1, column 1): name the option.
    const std::string msg = e.what();
    const std::string first = FormatMark(source, YAML::Mark::null_mark()) + ":1:1: ";
    for (const std::string& o : overrides) {
      const std::string key = o.substr(0, o.find('='));
      if (msg.rfind(first + key, 0) == 0) throw ConfigError("--set " + o + ": " + msg.substr(first.size()));
    }
    throw;
  }
}

namespace {

// Adds one manifest to a dataset; errors are re-thrown with the experiment's place of the entry.
int64_t AddSource(Dataset& data, const ExperimentConfig& c, const ManifestSource& s, const std::string& key) {
  const std::string where = c.Where(key) + key + ": ";
  std::error_code ec;
  if (!std::filesystem::exists(s.manifest, ec)) {
    throw ConfigError(c.Where(key + ".manifest") + key + ".manifest: '" + s.manifest + "' does not exist");
  }
  try {
    return data.AddManifest(s.manifest, s.columns, s.unknown_label);
  } catch (const ConfigError& e) {
    throw ConfigError(where + e.what());
  } catch (const IoError& e) {
    throw IoError(where + e.what());
  } catch (const AudioError& e) {
    throw AudioError(where + e.what());
  }
}

}  // namespace

ExperimentData LoadExperimentData(const ExperimentConfig& c) {
  ExperimentData d{Dataset(c.target, c.labels, c.features), Dataset(c.target, c.labels, c.features), {}, {}, 0};
  for (size_t i = 0; i < c.train.size(); ++i) {
    d.manifest_examples.push_back(AddSource(d.train, c, c.train[i], "data.train[" + std::to_string(i) + "]"));
    d.manifest_paths.push_back(c.train[i].manifest);
  }
  if (c.loader.synthetic.examples_per_text > 0) {
    try {
      d.synthetic_examples = d.train.AddSynthetic(c.loader.synthetic, c.seed, std::max(1, c.loader.workers));
    } catch (const ConfigError& e) {
      throw ConfigError(c.Where("data.loader.synthetic") + e.what());
    }
  }
  if (d.train.Size() == 0) {
    throw ConfigError(c.Where("data.train") + "data.train: the training set is empty (no examples in its manifests)");
  }
  for (size_t i = 0; i < c.dev.size(); ++i) {
    d.manifest_examples.push_back(AddSource(d.dev, c, c.dev[i], "data.dev[" + std::to_string(i) + "]"));
    d.manifest_paths.push_back(c.dev[i].manifest);
  }
  if (!c.dev.empty() && d.dev.Size() == 0) {
    throw ConfigError(c.Where("data.dev") + "data.dev: the dev set is empty (no examples in its manifests)");
  }
  return d;
}

std::vector<ConfigDocRow> ExperimentConfigDocs() {
  std::vector<ConfigDocRow> rows = {
      {"name", "string", "", "experiment", "run name (outputs go to runs/<name> by default)"},
      {"description", "string", "", "\"\"", "free text, kept in the model's provenance"},
      {"seed", "int", "", "1", "seed of the initialisation, shuffling, augmentation and dropout"},
      {"target", EnumChoices<TargetType>(), "", "class", "one class per clip, or a token sequence (CTC)"},
      {"labels", "list of string", "", "[]", "target class: the class names, in output order"},
      {"tokens", "string", "", "\"\"", "target tokens: the token characters (the blank is added as class 0)"},
      {"word_tokens", "list of string", "", "[]",
       "target tokens: whole words as the tokens instead of characters (each becomes U+2581 + word, as "
       "SentencePiece marks a word start; transcripts are split at spaces)"},
      {"features_file", "string", "path", "\"\"", "base feature configuration (YAML); `features` overrides it"},
      {"init_from", "string", "path", "\"\"",
       "trained model whose weights start the training (fine-tuning): its recurrent stack, and its output "
       "layer when labels and head are the same; cell, layers, direction, hidden size and features must match"},
      {"init_from_member", "int", "", "(none)",
       "init_from is an ensemble: start from this member (0-based, as the file's members.<m>. tensors)"},
  };
  CollectConfigDocs(FeatureConfig{}, "features", rows);
  ModelArchitecture model;
  model.input_size = 0;
  model.num_classes = 0;
  CollectConfigDocs(model, "model", rows);
  for (auto& r : rows) {
    if (r.key == "model.input_size" || r.key == "model.num_classes") r.help += " (0 or absent = derived)";
  }
  CollectConfigDocs(ManifestSource{}, "data.train[]", rows);
  rows.push_back({"data.dev[]", "list", "", "[]", "dev manifests, with the keys of data.train[]"});
  CollectConfigDocs(DataConfig{}, "data.loader", rows);
  CollectConfigDocs(TrainingConfig{}, "training", rows);
  CollectConfigDocs(OutputsConfig{}, "outputs", rows);
  return rows;
}

}  // namespace ossicle
