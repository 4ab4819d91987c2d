# Build time: precompiled headers for the third-party headers that most translation units of a target parse
# again and again (CLI11, Catch2, nlohmann-json, yaml-cpp, Eigen, the common std headers). What each one saves
# and how it was measured: docs/development.md ("Build time").
#
#   ossicle_precompile_headers(<target> HEADERS <header>...)      the target builds its own precompiled header
#   ossicle_precompile_headers(<target> REUSE_FROM <other>)       reuses <other>'s, which needs identical
#                                                                 compile flags and definitions (the tests)
#
# Works with gcc and clang, with and without the sanitizers. Under ccache (CMAKE_CXX_COMPILER_LAUNCHER=ccache)
# these targets run ccache with the sloppiness its manual asks for precompiled headers, so they stay cached;
# clang gets -fno-pch-timestamp for the same reason. -DOSSICLE_PRECOMPILED_HEADERS=OFF compiles every
# header as before (e.g. to check that each file includes what it uses).
option(OSSICLE_PRECOMPILED_HEADERS "Precompile the heavy third-party headers of each target (faster builds)" ON)

set(OSSICLE_PCH_LAUNCHER "")
if(OSSICLE_PRECOMPILED_HEADERS AND CMAKE_CXX_COMPILER_LAUNCHER MATCHES "ccache")
  set(OSSICLE_PCH_LAUNCHER ${CMAKE_COMMAND} -E env
    "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
    ${CMAKE_CXX_COMPILER_LAUNCHER})
endif()

function(ossicle_precompile_headers target)
  cmake_parse_arguments(ARG "" "REUSE_FROM" "HEADERS" ${ARGN})
  if(NOT OSSICLE_PRECOMPILED_HEADERS)
    return()
  endif()
  if(ARG_REUSE_FROM)
    target_precompile_headers(${target} REUSE_FROM ${ARG_REUSE_FROM})
  elseif(ARG_HEADERS)
    target_precompile_headers(${target} PRIVATE ${ARG_HEADERS})
  else()
    message(FATAL_ERROR "ossicle_precompile_headers(${target}): give HEADERS or REUSE_FROM")
  endif()
  # gcc silently parses the headers again when a precompiled header does not fit the flags of a file;
  # -Winvalid-pch (an error with -Werror) says so instead.
  # GCC 12 reports false -Wstringop-overflow and -Warray-bounds positives inside libstdc++'s std::string at -O3 (string
  # concatenation, pipeline/config-yaml.cc) once libstdc++ comes from a precompiled header: the family of
  # GCC bug 105329 for which the top-level CMakeLists.txt already turns -Wrestrict off.
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Winvalid-pch -Wno-stringop-overflow -Wno-array-bounds>
    $<$<CXX_COMPILER_ID:Clang>:SHELL:-Xclang -fno-pch-timestamp>)
  if(OSSICLE_PCH_LAUNCHER)
    set_target_properties(${target} PROPERTIES CXX_COMPILER_LAUNCHER "${OSSICLE_PCH_LAUNCHER}")
  endif()
endfunction()

# The std headers that most of ossicle's files include.
set(OSSICLE_PCH_STD_HEADERS <algorithm> <cmath> <cstdint> <filesystem> <fstream> <functional> <map> <memory>
  <optional> <span> <sstream> <string> <string_view> <utility> <vector>)

# Unity build: each target compiles its files in batches of OSSICLE_UNITY_BATCH_SIZE, one translation unit
# per batch, so the code that the files of a batch share (Eigen's kernels, CLI11's validators, Catch2's
# assertion templates, json and yaml-cpp conversions) is instantiated and optimised once per batch instead
# of once per file. On in the presets CI uses (release, asan-clang); the plain default is off, because one
# edited file then recompiles its whole batch (-DOSSICLE_UNITY_BUILD=OFF with a preset for development).
# File-local helpers of a target therefore need names distinct within the target (or one shared header);
# a file with its own COMPILE_OPTIONS or COMPILE_DEFINITIONS (rfft.cc, espeak-synth.cc) is compiled alone.
option(OSSICLE_UNITY_BUILD "Compile each target's files in batches, one translation unit per batch (faster cold builds)" OFF)
set(OSSICLE_UNITY_BATCH_SIZE 8 CACHE STRING "Files per translation unit of the unity build")

#   ossicle_unity_build(<target>...)
function(ossicle_unity_build)
  if(OSSICLE_UNITY_BUILD)
    set_target_properties(${ARGN} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${OSSICLE_UNITY_BATCH_SIZE})
    # gcc's -Wsubobject-linkage is for a class defined in a header (included by several translation units)
    # whose members use types from an anonymous namespace. In a unity batch every .cc file is an included
    # file, so the warning fires on each pimpl `Impl` holding a file-local type, though each .cc file is
    # still included by exactly one translation unit: off for these targets.
    foreach(target IN LISTS ARGN)
      target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
    endforeach()
  endif()
endfunction()
