// An owning handle for a libsoxr resampler (soxr_delete on destruction). Internal to pipeline/: the files
// that include it link libsoxr.
#pragma once

#include <soxr.h>

#include <memory>
#include <type_traits>

namespace ossicle {

struct SoxrDeleter {
  void operator()(soxr_t s) const { soxr_delete(s); }
};
using SoxrPtr = std::unique_ptr<std::remove_pointer_t<soxr_t>, SoxrDeleter>;

}  // namespace ossicle
