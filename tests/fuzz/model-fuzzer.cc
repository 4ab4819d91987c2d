// Fuzz target: model files. The bytes are parsed as a safetensors file (SafetensorsFile::Parse, every
// tensor read with every converting reader) and loaded as an ossicle model (AcousticModel::Load, through a
// scratch file). ModelFormatError / IoError are the expected outcome for bad bytes; anything else (another
// exception, a sanitizer report, a crash, a hang) is a finding.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "features/errors.h"
#include "fuzz-scratch-file.h"
#include "models/acoustic-model.h"
#include "models/safetensors.h"

namespace {

void ReadEveryTensor(const ossicle::SafetensorsFile& file) {
  for (const std::string& name : file.TensorNames()) {
    try {
      (void)file.ReadFloat(name);
    } catch (const ossicle::ModelFormatError&) {
    }
    try {
      (void)file.ReadDouble(name);
    } catch (const ossicle::ModelFormatError&) {
    }
    try {
      (void)file.ReadInt(name);
    } catch (const ossicle::ModelFormatError&) {
    }
    (void)file.RawBytes(name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Small limits keep one input's allocations bounded (the default allows 2^31-element tensors).
  ossicle::SafetensorsLimits limits;
  limits.max_header_bytes = 1 << 20;
  limits.max_elements = int64_t{1} << 24;
  try {
    const ossicle::SafetensorsFile file = ossicle::SafetensorsFile::Parse({data, size}, "fuzz.safetensors", limits);
    ReadEveryTensor(file);
  } catch (const ossicle::ModelFormatError&) {
  }

  static ossicle::fuzz::ScratchFile scratch("model.safetensors");
  try {
    (void)ossicle::AcousticModel::Load(scratch.Write(data, size));
  } catch (const ossicle::ModelFormatError&) {
  } catch (const ossicle::IoError&) {
  }
  return 0;
}
