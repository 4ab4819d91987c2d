// A scratch file for fuzz targets whose parser reads a path (manifests, YAML files, model files).
//
//   static ossicle::fuzz::ScratchFile file("graph.yaml");   // one per process, in a private folder
//   const std::string& path = file.Write(data, size);       // replaces the content on every input
//
// The folder is made under /dev/shm when it exists (no disk writes at thousands of inputs per second),
// else under $TMPDIR, and is removed when the process ends normally.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace ossicle::fuzz {

class ScratchFile {
 public:
  explicit ScratchFile(const std::string& name) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir_ = base / ("ossicle-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / name).string();
  }
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::string& Write(const uint8_t* data, size_t size) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) std::abort();  // the fuzz run cannot go on without its scratch file
    return path_;
  }
  const std::filesystem::path& Dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace ossicle::fuzz
