// Fuzz target: experiment configurations (LoadExperimentConfig: YAML syntax, every key and rule that does
// not need the data), through a scratch file. ConfigError / IoError are the expected outcome for bad
// bytes; anything else is a finding.
#include <cstddef>
#include <cstdint>

#include "features/errors.h"
#include "fuzz-scratch-file.h"
#include "pipeline/experiment-config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ossicle::fuzz::ScratchFile scratch("experiment.yaml");
  try {
    (void)ossicle::LoadExperimentConfig(scratch.Write(data, size));
  } catch (const ossicle::ConfigError&) {
  } catch (const ossicle::IoError&) {
  }
  return 0;
}
