// Fuzz target: YAML processing graphs, loaded and validated as `ossicle run` does (Graph::Load: YAML syntax,
// structure, stage options, inputs, models named by the graph), through a scratch file. The typed ossicle
// errors are the expected outcome for bad bytes; anything else is a finding.
#include <cstddef>
#include <cstdint>

#include "features/errors.h"
#include "fuzz-scratch-file.h"
#include "pipeline/graph-runner.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ossicle::fuzz::ScratchFile scratch("graph.yaml");
  try {
    (void)ossicle::Graph::Load(scratch.Write(data, size));
  } catch (const ossicle::Error&) {
  }
  return 0;
}
