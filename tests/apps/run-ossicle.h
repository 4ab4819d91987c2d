// Running the real `ossicle` binary from an end-to-end test: its exit code, standard output and standard error.
// Header-only because OSSICLE_BINARY is a compile definition of each test binary.
//
//   ossicle::test::RunResult r = ossicle::test::RunOssicle("model info m.safetensors");
//   CHECK(r.exit_code == 0);
//   CHECK_THAT(r.out, Contains("parameters: 44812"));
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/npy-file.h"
#include "support/bad-audio-files.h"

namespace ossicle::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadTextFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `ossicle ARGS` through the shell in `dir`, capturing stdout, stderr and the exit code (128 + signal
// when killed). ARGS is shell text: quote paths with spaces.
inline RunResult RunOssicle(const std::string& args,
                            const std::filesystem::path& dir = std::filesystem::current_path()) {
  ScopedTempDir capture("ossicle-cli");  // unique per call: tests run in parallel
  const std::filesystem::path out = capture.path() / "stdout.txt", err = capture.path() / "stderr.txt";
  const std::string cmd = std::string("cd '") + dir.string() + "' && '" + OSSICLE_BINARY + "' " + args + " >'" +
                          out.string() + "' 2>'" + err.string() + "' </dev/null";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadTextFile(out);
  r.err = ReadTextFile(err);
  UNSCOPED_INFO("ossicle " << args << "\nstdout: " << r.out << "\nstderr: " << r.err);
  return r;
}

// A path quoted for the shell text RunOssicle takes: 'path'.
inline std::string Quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// Largest |a - b| over two .npy matrices of the same shape (REQUIREs the shapes to match).
// The JSON objects of a JSON-lines text (empty lines skipped).
inline std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

inline double MaxAbsDiff(const NpyMatrix& a, const NpyMatrix& b) {
  REQUIRE(a.shape == b.shape);
  double worst = 0.0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a.data[i]) - b.data[i]));
  }
  return worst;
}

}  // namespace ossicle::test
