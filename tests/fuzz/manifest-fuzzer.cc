// Fuzz target: training manifests (ReadManifest, through a scratch file). The optional columns (label,
// transcript, duration_s) are configured when the header line names them, so seeds from real manifests
// reach the per-line checks. ConfigError / IoError are the expected outcome for bad bytes; anything else
// is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "features/errors.h"
#include "fuzz-scratch-file.h"
#include "pipeline/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ossicle::fuzz::ScratchFile scratch("manifest.tsv");
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string_view header = text.substr(0, text.find('\n'));
  ossicle::ManifestColumns columns;
  if (header.find("label") != std::string_view::npos) columns.label = "label";
  if (header.find("transcript") != std::string_view::npos) columns.transcript = "transcript";
  if (header.find("duration_s") != std::string_view::npos) columns.duration = "duration_s";
  try {
    (void)ossicle::ReadManifest(scratch.Write(data, size), columns);
  } catch (const ossicle::ConfigError&) {
  } catch (const ossicle::IoError&) {
  }
  return 0;
}
