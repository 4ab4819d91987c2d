// The `ossicle` Python module (docs/python.md): pybind11 bindings over the public headers of the three
// libraries. Arrays are numpy float32, row-major [frames, dims]; configurations are dicts with the keys
// of the C++ config structs (the same names as the YAML files); records and hits are dicts with the keys
// of the command's JSON lines, so `ossicle spot` output and these results compare directly.
// Long computations release the GIL, so Python threads (and Dask workers) run them in parallel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "features/config-json.h"
#include "pipeline/ossicle-pipeline.h"
#include "pipeline/stages/builtin-stages.h"

namespace py = pybind11;

namespace ossicle {
namespace {

using Json = nlohmann::json;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// Python objects and JSON values cross through the json module: configurations and records are small.
py::object ToPython(const Json& j) { return py::module_::import("json").attr("loads")(j.dump()); }
Json ToJson(const py::handle& o) {
  return Json::parse(py::module_::import("json").attr("dumps")(o).cast<std::string>());
}

// A config struct from defaults and a dict (unknown keys and wrong types are ConfigErrors naming the key).
template <class C>
C ConfigFromDict(C config, const py::dict& options, const std::string& where) {
  if (!options.empty()) ConfigFromJson(ToJson(options), config, where);
  config.Validate(where);
  return config;
}

// None: FeatureConfig::KaldiFbank(); a str: a YAML file read over those defaults (as `ossicle features
// --config`); a dict: keys over those defaults.
FeatureConfig ToFeatureConfig(const py::object& source) {
  FeatureConfig config = FeatureConfig::KaldiFbank();
  if (source.is_none()) {
  } else if (py::isinstance<py::str>(source) || py::hasattr(source, "__fspath__")) {
    const std::string path = py::str(py::module_::import("os").attr("fspath")(source));
    YamlSource yaml;
    const YAML::Node root = LoadYamlFile(path, yaml);
    ReadConfig(root, config, yaml, "");
    try {
      config.Validate("");
    } catch (const ConfigError& e) {
      throw ConfigError(path + ": " + e.what());
    }
    return config;
  } else if (py::isinstance<py::dict>(source)) {
    ConfigFromJson(ToJson(source), config, "features");
  } else {
    throw ConfigError("features: expected None, a YAML file path or a dict, got " +
                      std::string(py::str(py::type::of(source).attr("__name__"))));
  }
  config.Validate("features");
  return config;
}

std::span<const float> Samples(const FloatArray& samples) {
  if (samples.ndim() != 1) {
    throw std::invalid_argument("samples: expected a 1-D array of mono samples, got " +
                                std::to_string(samples.ndim()) + " dimensions");
  }
  return {samples.data(), static_cast<size_t>(samples.shape(0))};
}

// A [rows, cols] view of a 2-D array (a copy only when it is not float32 C-contiguous).
Eigen::Map<const MatrixF> Matrix(const FloatArray& a, const char* what) {
  if (a.ndim() != 2) {
    throw std::invalid_argument(std::string(what) + ": expected a 2-D array [frames, dims], got " +
                                std::to_string(a.ndim()) + " dimensions");
  }
  return {a.data(), a.shape(0), a.shape(1)};
}

FloatArray ToArray(const float* data, int64_t rows, int64_t cols) {
  FloatArray out({rows, cols});
  std::copy(data, data + rows * cols, out.mutable_data());
  return out;
}

FeatureMatrix Features(std::span<const float> samples, const FeatureConfig& config) {
  py::gil_scoped_release unlocked;
  return ComputeFeatures(config, samples);
}

py::dict HitDict(const KeywordHit& hit) {
  py::dict d;
  d["keyword"] = hit.keyword;
  d["start_s"] = hit.start_s;
  d["end_s"] = hit.end_s;
  d["score"] = hit.score;
  return d;
}

py::list TokenTimes(const std::vector<TokenTime>& tokens) {
  py::list out;
  for (const TokenTime& t : tokens) {
    py::dict d;
    d["token"] = t.token;
    d["start_s"] = t.start_s;
    d["end_s"] = t.end_s;
    out.append(d);
  }
  return out;
}

py::dict TranscriptDict(const Transcript& t) {
  py::dict d;
  d["text"] = t.text;
  d["tokens"] = TokenTimes(t.tokens);
  d["words"] = TokenTimes(t.words);
  d["confidence"] = t.confidence;
  return d;
}

// Keyword spotting on log-probabilities [frames, labels]: frame f at f * frame_shift_s + offset_s seconds.
py::list DecodeKeywords(const Eigen::Map<const MatrixF>& log_probs, const std::vector<std::string>& labels,
                        double frame_shift_s, const py::dict& options, double offset_s = 0.0) {
  const KwsDecoderConfig config = ConfigFromDict(KwsDecoderConfig{}, options, "kws");
  std::vector<KeywordHit> hits;
  {
    py::gil_scoped_release unlocked;
    KwsDecoder kws(config, labels, frame_shift_s);
    hits = kws.AcceptFrames(log_probs, 0);
    for (KeywordHit& hit : kws.InputFinished()) hits.push_back(std::move(hit));
  }
  py::list out;
  for (KeywordHit& hit : hits) {
    hit.start_s += offset_s;
    hit.end_s += offset_s;
    out.append(HitDict(hit));
  }
  return out;
}

// CTC decoding: greedy unless options has "beam_width" (then prefix beam search, CtcBeamConfig's keys).
py::dict DecodeCtc(const Eigen::Map<const MatrixF>& log_probs, const std::vector<std::string>& labels,
                   double frame_shift_s, const py::dict& options, double offset_s = 0.0) {
  Transcript t;
  if (options.contains("beam_width")) {
    const CtcBeamConfig config = ConfigFromDict(CtcBeamConfig{}, options, "ctc_beam");
    py::gil_scoped_release unlocked;
    CtcBeamDecoder beam(config, labels, frame_shift_s);
    beam.AcceptFrames(log_probs, 0);
    t = beam.InputFinished();
  } else {
    const CtcGreedyConfig config = ConfigFromDict(CtcGreedyConfig{}, options, "ctc_greedy");
    py::gil_scoped_release unlocked;
    CtcGreedyDecoder greedy(config, labels, frame_shift_s);
    greedy.AcceptFrames(log_probs, 0);
    t = greedy.InputFinished();
  }
  for (auto* times : {&t.tokens, &t.words}) {
    for (TokenTime& x : *times) {
      x.start_s += offset_s;
      x.end_s += offset_s;
    }
  }
  return TranscriptDict(t);
}

// A loaded model and what it needs to be fed (immutable: safe to share between Python threads).
class PyModel {
 public:
  explicit PyModel(std::shared_ptr<const AcousticModel> model) : model_(std::move(model)) {}
  static PyModel Load(const std::string& path) {
    py::gil_scoped_release unlocked;
    return PyModel(AcousticModel::Load(path));
  }

  const AcousticModel& Get() const { return *model_; }
  double FrameShiftSeconds() const { return OnlineFeatureExtractor(model_->Features()).FrameShiftSeconds(); }
  // Where frame 0 sits in the audio, as the graphs' decoder stages place it (the frame's centre minus half
  // a shift), so times from samples match the command's records.
  double FrameOffsetSeconds() const { return FrameTimeOffsetSeconds(model_->Features()); }

  // Frame head: log_probs [frames, classes]; attention head: the clip's [1, classes].
  FloatArray Forward(const Eigen::Map<const MatrixF>& features) const {
    ModelOutput y;
    {
      py::gil_scoped_release unlocked;
      y = model_->Forward(SingleSequence(features));
    }
    const MatrixF& out = model_->Architecture().head == HeadType::kAttention ? y.clip_log_probs : y.log_probs.data;
    return ToArray(out.data(), out.rows(), out.cols());
  }
  FloatArray Posteriors(std::span<const float> samples) const {
    const FeatureMatrix f = Features(samples, model_->Features());
    return Forward(Eigen::Map<const MatrixF>(f.data.data(), f.num_frames, f.dim));
  }

 private:
  std::shared_ptr<const AcousticModel> model_;
};

class PyGraph {
 public:
  PyGraph(const std::string& path, const std::vector<std::string>& overrides) {
    py::gil_scoped_release unlocked;
    graph_ = Graph::Load(path, overrides);
  }
  py::list RunFile(const std::string& path) const {
    std::vector<Json> records;
    {
      py::gil_scoped_release unlocked;
      graph_->RunFile(path, [&](const Json& record) { records.push_back(record); });
    }
    py::list out;
    for (const Json& r : records) out.append(ToPython(r));
    return out;
  }

 private:
  std::shared_ptr<const Graph> graph_;
};

FloatArray ReadAudio(const std::string& path, double sample_rate_hz, int channel) {
  AudioReadConfig config;
  config.sample_rate_hz = sample_rate_hz;
  if (channel >= 0) {
    config.channel_mode = ChannelMode::kSelect;
    config.channel = channel;
  }
  config.Validate("audio");
  std::vector<float> x;
  {
    py::gil_scoped_release unlocked;
    x = ReadAudioFile(path, config);
  }
  FloatArray out(static_cast<py::ssize_t>(x.size()));
  std::copy(x.begin(), x.end(), out.mutable_data());
  return out;
}

}  // namespace
}  // namespace ossicle

PYBIND11_MODULE(ossicle, m) {
  using namespace ossicle;
  m.doc() = "ossicle: features, recurrent acoustic models, keyword spotting and CTC transcription (docs/python.md)";
  m.attr("__version__") = OSSICLE_VERSION;

  // ossicle's typed exceptions (features/errors.h) as Python classes under one base, ossicle.Error
  // (a RuntimeError). pybind11 tries the most recently registered translator first: the base goes first.
  auto& base = py::register_exception<Error>(m, "Error", PyExc_RuntimeError);
  py::register_exception<ConfigError>(m, "ConfigError", base);
  py::register_exception<AudioError>(m, "AudioError", base);
  py::register_exception<ModelFormatError>(m, "ModelFormatError", base);
  py::register_exception<DeviceError>(m, "DeviceError", base);
  py::register_exception<IoError>(m, "IoError", base);

  m.def("feature_config", [](const py::object& config) { return ToPython(ConfigToJson(ToFeatureConfig(config))); },
        py::arg("config") = py::none(),
        "The complete, validated feature configuration as a dict: None gives the Kaldi fbank defaults, a str "
        "a YAML file read over them (as `ossicle features --config`), a dict keys over them.");
  m.def("read_audio", &ReadAudio, py::arg("path"), py::arg("sample_rate_hz") = 16000.0, py::arg("channel") = -1,
        "Mono float32 samples in [-1, 1) of an audio file, resampled to sample_rate_hz (0 keeps the file's "
        "rate); channel >= 0 selects one channel instead of averaging them. AudioError when unreadable.");
  m.def(
      "compute_features",
      [](const FloatArray& samples, const py::object& config) {
        const FeatureMatrix f = Features(Samples(samples), ToFeatureConfig(config));
        return ToArray(f.data.data(), f.num_frames, f.dim);
      },
      py::arg("samples"), py::arg("config") = py::none(),
      "Features [frames, dims] float32 of mono samples at the configuration's sample rate (config as in "
      "feature_config). Equal to `ossicle features FILE --config ... --out x.npy` on the file's samples.");

  py::class_<PyModel>(m, "Model", "A recurrent acoustic model (immutable; share it between threads).")
      .def(py::init(&PyModel::Load), py::arg("path"), "Loads an ossicle model file (ModelFormatError when damaged).")
      .def_static(
          "import_torch",
          [](const std::string& path, std::vector<std::string> labels, const py::object& features) {
            const FeatureConfig f = ToFeatureConfig(features);
            py::gil_scoped_release unlocked;
            return PyModel(AcousticModel::ImportTorch(path, f, std::move(labels)));
          },
          py::arg("path"), py::arg("labels"), py::arg("features") = py::none(),
          "A model from a PyTorch state_dict saved as safetensors (as `ossicle model import-torch`).")
      .def("save", [](const PyModel& self, const std::string& path) { self.Get().Save(path); }, py::arg("path"))
      .def_property_readonly("labels", [](const PyModel& self) { return self.Get().Labels(); })
      .def_property_readonly("features",
                             [](const PyModel& self) { return ToPython(ConfigToJson(self.Get().Features())); })
      .def_property_readonly("architecture",
                             [](const PyModel& self) { return ToPython(ConfigToJson(self.Get().Architecture())); })
      .def_property_readonly("num_parameters", [](const PyModel& self) { return self.Get().NumParameters(); })
      .def_property_readonly("frame_shift_s", &PyModel::FrameShiftSeconds)
      .def_property_readonly("frame_offset_s", &PyModel::FrameOffsetSeconds,
                             "where frame 0 sits in the audio: spot() and transcribe() add it to every time")
      .def(
          "forward",
          [](const PyModel& self, const FloatArray& features) { return self.Forward(Matrix(features, "features")); },
          py::arg("features"),
          "Log-probabilities [frames, classes] of features [frames, input_size] (the whole utterance, offline); "
          "an attention-head model gives its clip's [1, classes].")
      .def(
          "posteriors",
          [](const PyModel& self, const FloatArray& samples) { return self.Posteriors(Samples(samples)); },
          py::arg("samples"), "forward() of the features the model was trained on, computed from mono samples.");

  m.def(
      "decode_keywords",
      [](const FloatArray& log_probs, const std::vector<std::string>& labels, double frame_shift_s,
         const py::kwargs& options) {
        return DecodeKeywords(Matrix(log_probs, "log_probs"), labels, frame_shift_s, options);
      },
      py::arg("log_probs"), py::arg("labels"), py::arg("frame_shift_s"),
      "Keyword hits [{keyword, start_s, end_s, score}] from log-probabilities [frames, labels]; keyword "
      "arguments are KwsDecoderConfig's keys (threshold=0.5, keywords='yes,no', suppression_ms=1000, ...).");
  m.def(
      "spot",
      [](const PyModel& model, const FloatArray& samples, const py::kwargs& options) {
        const FloatArray lp = model.Posteriors(Samples(samples));
        return DecodeKeywords(Matrix(lp, "log_probs"), model.Get().Labels(), model.FrameShiftSeconds(), options,
                              model.FrameOffsetSeconds());
      },
      py::arg("model"), py::arg("samples"),
      "Keyword hits in mono samples: the model's features, the model offline, then decode_keywords(**options), "
      "times shifted by model.frame_offset_s into the audio's timeline. Equal to the hit records of "
      "`ossicle spot` with the same options.");
  m.def(
      "decode_ctc",
      [](const FloatArray& log_probs, const std::vector<std::string>& labels, double frame_shift_s,
         const py::kwargs& options) {
        return DecodeCtc(Matrix(log_probs, "log_probs"), labels, frame_shift_s, options);
      },
      py::arg("log_probs"), py::arg("labels"), py::arg("frame_shift_s"),
      "A transcript {text, tokens, words, confidence} of a CTC model's log-probabilities: greedy, or prefix beam "
      "search when beam_width is given (keyword arguments are CtcGreedyConfig's / CtcBeamConfig's keys).");
  m.def(
      "transcribe",
      [](const PyModel& model, const FloatArray& samples, const py::kwargs& options) {
        const FloatArray lp = model.Posteriors(Samples(samples));
        return DecodeCtc(Matrix(lp, "log_probs"), model.Get().Labels(), model.FrameShiftSeconds(), options,
                         model.FrameOffsetSeconds());
      },
      py::arg("model"), py::arg("samples"), "decode_ctc() of a CTC model's output on mono samples.");

  py::class_<PyGraph>(m, "Graph", "A processing graph (YAML), loaded and validated once; run per file from any thread.")
      .def(py::init<const std::string&, const std::vector<std::string>&>(), py::arg("path"),
           py::arg("overrides") = std::vector<std::string>{},
           "Loads a graph file; overrides are 'stage.option=value' (as --set).")
      .def("run_file", &PyGraph::RunFile, py::arg("path"),
           "The records (dicts: hit, transcript, ..., then the summary) of one audio file, as `ossicle spot` / "
           "`ossicle transcribe` / `ossicle run` write them (sinks are not used).");
}
