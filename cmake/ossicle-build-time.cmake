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
