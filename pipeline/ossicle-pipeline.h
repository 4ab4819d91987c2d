// ossicle::pipeline — the public header of the pipeline library (installed as <ossicle/pipeline.h>):
// audio files in, processing graphs (YAML) run per file, records out. Includes <ossicle/models.h>.
//
//   #include <ossicle/pipeline.h>
//
//   // Audio: any libsndfile format, resampled and mixed down to mono floats in [-1, 1).
//   std::vector<float> samples = ossicle::ReadAudioFile("speech.flac", {.sample_rate_hz = 16000});
//
//   // A graph, as `ossicle spot` runs it: loaded and validated once, then run per file on any thread.
//   auto graph = ossicle::Graph::Load("batch-keywords.yaml", {"model.path=commands.safetensors"});
//   graph->RunFile("speech.flac", [](const nlohmann::json& record) {
//     if (record["type"] == "hit") std::cout << record["keyword"] << " " << record["start_s"] << "\n";
//   });   // ... then one {"type":"summary", ...} record per file (docs/batch.md lists every record)
//
//   // A YAML configuration file into any config struct (file:line:column errors, unknown keys refused):
//   ossicle::YamlSource source;
//   ossicle::FeatureConfig features = ossicle::FeatureConfig::KaldiFbank();
//   ossicle::ReadConfig(ossicle::LoadYamlFile("fbank.yaml", source), features, source, "");
//
// What is declared by the headers included here is the library's API; the other headers under
// <prefix>/include/ossicle/detail/ (stages, training data, synthesis, ...) are implementation details.
#pragma once

#include "models/ossicle-models.h"
#include "pipeline/audio-file-reader.h"  // ReadAudioFile, ProbeAudioFile, AudioReadConfig
#include "pipeline/config-yaml.h"        // LoadYamlFile, ReadConfig, ApplyOverride, YamlSource
#include "pipeline/graph-runner.h"       // Graph (Load, RunFile, Run), GraphRunOptions, records
