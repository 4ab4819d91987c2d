#include "apps/exit-codes.h"

#include "features/errors.h"

namespace ossicle {

ExitCode ExitCodeFor(const std::exception& e) {
  if (dynamic_cast<const ConfigError*>(&e)) return kExitConfig;
  if (dynamic_cast<const AudioError*>(&e)) return kExitAudio;
  if (dynamic_cast<const ModelFormatError*>(&e)) return kExitModel;
  if (dynamic_cast<const DeviceError*>(&e)) return kExitDevice;
  if (dynamic_cast<const IoError*>(&e)) return kExitIo;
  return kExitInternal;
}

std::string_view CategoryFor(const std::exception& e) {
  switch (ExitCodeFor(e)) {
    case kExitConfig: return "config";
    case kExitAudio: return "audio";
    case kExitModel: return "model";
    case kExitDevice: return "device";
    case kExitIo: return "io";
    default: return "internal";
  }
}

}  // namespace ossicle
