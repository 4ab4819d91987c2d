// AudioFileReader from memory (libsndfile virtual I/O, the audio fuzz target's entry point): the same
// samples, info and errors as the same bytes read from a file.
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "features/errors.h"
#include "pipeline/audio-file-reader.h"
#include "support/bad-audio-files.h"

namespace ossicle {
namespace {

namespace fs = std::filesystem;
using test::ScopedTempDir;

std::vector<uint8_t> FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> ReadAll(AudioFileReader& reader) {
  std::vector<float> all;
  std::vector<float> block;
  while (reader.ReadBlock(block)) all.insert(all.end(), block.begin(), block.end());
  return all;
}

// Reads the file and its bytes from memory; returns the error message of each ("" when none).
struct BothWays {
  std::string from_file;
  std::string from_memory;
};
BothWays Errors(const std::string& path, const std::string& name, const AudioReadConfig& config = {}) {
  BothWays r;
  try {
    AudioFileReader reader(path, config);
    ReadAll(reader);
  } catch (const Error& e) {
    r.from_file = e.what();
  }
  const std::vector<uint8_t> bytes = FileBytes(path);
  try {
    AudioFileReader reader(bytes, name, config);
    ReadAll(reader);
  } catch (const Error& e) {
    r.from_memory = e.what();
  }
  return r;
}

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

TEST_CASE("audio from memory: every test-audio format gives the file's samples and info", "[audio][memory]") {
  const fs::path dir = fs::path(OSSICLE_SOURCE_DIR) / "test-audio";
  for (const char* name : {"stop_en_16k.wav", "stop_en_16k.flac", "stop_en_16k.ogg", "stop_en_16k.aiff",
                           "stop_en_16k_s24.wav", "stop_en_16k_u8.wav", "stop_en_16k_float32.wav",
                           "stop_en_8k.wav", "three-one-four_en-gb_44k1_stereo.wav"}) {
    INFO(name);
    const std::string path = (dir / name).string();
    AudioReadConfig config;
    config.block_frames = 1000;  // several blocks, resampling across them for 8 kHz and 44.1 kHz
    AudioFileReader from_file(path, config);
    AudioFileReader from_memory(FileBytes(path), "memory", config);
    CHECK(from_memory.Info().path == "memory");
    CHECK(from_memory.Info().container == from_file.Info().container);
    CHECK(from_memory.Info().encoding == from_file.Info().encoding);
    CHECK(from_memory.Info().sample_rate_hz == from_file.Info().sample_rate_hz);
    CHECK(from_memory.Info().channels == from_file.Info().channels);
    CHECK(from_memory.Info().frames == from_file.Info().frames);
    CHECK(from_memory.Info().declared_frames == from_file.Info().declared_frames);
    CHECK(from_memory.Resampling() == from_file.Resampling());
    const std::vector<float> a = ReadAll(from_file);
    const std::vector<float> b = ReadAll(from_memory);
    REQUIRE(!a.empty());
    CHECK(a == b);  // bit for bit
    CHECK(from_memory.Truncated() == from_file.Truncated());
  }
}

TEST_CASE("audio from memory: the bytes are copied, the caller's buffer may go away", "[audio][memory]") {
  const std::string path = std::string(OSSICLE_SOURCE_DIR) + "/test-audio/stop_en_16k.flac";
  std::vector<uint8_t> bytes = FileBytes(path);
  AudioFileReader reader(bytes, "copy.flac");
  std::fill(bytes.begin(), bytes.end(), uint8_t{0});
  bytes.clear();
  bytes.shrink_to_fit();
  CHECK(ReadAll(reader) == ReadAudioFile(path));
}

TEST_CASE("audio from memory: broken files get the file reader's errors, under the given name",
          "[audio][memory]") {
  ScopedTempDir tmp;
  const fs::path d = tmp.path();
  for (const std::string& path :
       {test::WriteTextFile(d), test::WriteTruncatedHeaderWav(d), test::WriteUnknownFormatTagWav(d),
        test::WriteEmptyDataWav(d), test::WriteNanFloatWav(d), test::WriteInfFloatWav(d), test::WriteZeroRateWav(d),
        test::WriteHugeRateWav(d), test::WriteZeroChannelWav(d), test::WriteHugeChannelCountWav(d),
        test::WriteHugeDurationWav(d), test::WriteHugeDurationFlac(d)}) {
    INFO(path);
    BothWays e = Errors(path, "in-memory");
    REQUIRE(!e.from_file.empty());
    ReplaceAll(e.from_file, path, "in-memory");
    CHECK(e.from_memory == e.from_file);
  }
  // Not an error: a truncated data chunk reads what is there, from memory too.
  for (const std::string& path : {test::WriteTruncatedDataWav(d), test::WriteTruncatedFlac(d)}) {
    INFO(path);
    AudioFileReader from_file(path);
    AudioFileReader from_memory(FileBytes(path), "in-memory");
    CHECK(ReadAll(from_memory) == ReadAll(from_file));
    CHECK(from_memory.Truncated());
    std::string message = from_file.TruncationMessage();
    ReplaceAll(message, path, "in-memory");
    CHECK(from_memory.TruncationMessage() == message);
  }
}

TEST_CASE("audio from memory: empty and tiny inputs are refused as not audio", "[audio][memory]") {
  for (size_t n : {0, 1, 4, 11, 12, 44}) {
    INFO(n);
    const std::vector<uint8_t> bytes(n, uint8_t{0});
    CHECK_THROWS_AS(AudioFileReader(bytes, "tiny"), AudioError);
  }
  const std::string riff = "RIFF";
  const std::vector<uint8_t> riff_only(riff.begin(), riff.end());
  try {
    AudioFileReader reader(riff_only, "riff");
    FAIL("no error");
  } catch (const AudioError& e) {
    CHECK(std::string(e.what()) == "riff: truncated header: the file ends at byte 4, inside the 12-byte RIFF/WAVE header");
  }
}

}  // namespace
}  // namespace ossicle
