// The documented exit codes of the `ossicle` command (docs/errors.md lists them too).
#pragma once

#include <exception>
#include <string_view>

namespace ossicle {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,    // a bug: an unexpected exception
  kExitUsage = 2,       // bad command line (unknown option, missing argument)
  kExitConfig = 3,      // ConfigError: invalid configuration file, key or value
  kExitAudio = 4,       // AudioError: unreadable or unusable audio input
  kExitModel = 5,       // ModelFormatError: damaged model, statistics or .npy file
  kExitDevice = 6,      // DeviceError: audio device failure
  kExitIo = 7,          // IoError: cannot write an output
  kExitMergeIncomplete = 8,  // `ossicle merge`: inputs missing from, or duplicated in, the shard outputs
};

// Maps an exception to its exit code and a one-word category ("config", "audio", ...).
ExitCode ExitCodeFor(const std::exception& e);
std::string_view CategoryFor(const std::exception& e);

}  // namespace ossicle
