// Typed exceptions shared by every ossicle library.
//
// Libraries never call exit() or abort(): they throw one of these, with a message that says what went
// wrong, where (file, field, sample time) and what was expected. The `ossicle` app catches them in main()
// and maps each type to a documented exit code (apps/exit-codes.h).
#pragma once

#include <stdexcept>
#include <string>

namespace ossicle {

// Base of every ossicle exception.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration value that breaks a rule, an unknown key, a malformed YAML file.
// Message form: "features.num_mel_bins = 0; expected > 0".
class ConfigError : public Error {
 public:
  using Error::Error;
};

// An audio file or stream that cannot be read or holds unusable data (missing, not audio, truncated,
// NaN samples, absurd header values).
class AudioError : public Error {
 public:
  using Error::Error;
};

// A model, weights or statistics file that is damaged or does not match what it is used with.
class ModelFormatError : public Error {
 public:
  using Error::Error;
};

// An audio device that cannot be opened or fails while running.
class DeviceError : public Error {
 public:
  using Error::Error;
};

// Any other input/output failure (cannot write an output file, ...).
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace ossicle
