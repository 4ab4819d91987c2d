# ctest driver (tests/CMakeLists.txt): installs the build tree to a temporary prefix, then, as another project
# would, (1) configures and builds tests/consumer with find_package(ossicle) and runs it on test-audio/,
# (2) compiles and links a small program with nothing but `pkg-config --cflags --libs ossicle`.
#   cmake -DOSSICLE_BUILD_DIR=... -DOSSICLE_SOURCE_DIR=... -DWORK_DIR=... -DCXX=... [-DLAUNCHER=ccache]
#         [-DBUILD_TYPE=Release] -P run-consumer-test.cmake
foreach(var OSSICLE_BUILD_DIR OSSICLE_SOURCE_DIR WORK_DIR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run-consumer-test.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  set(RUN_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run("install" ${CMAKE_COMMAND} --install "${OSSICLE_BUILD_DIR}" --prefix "${prefix}")

# The public headers are the installed interface; the private ones sit under detail/.
foreach(f include/ossicle/features.h include/ossicle/models.h include/ossicle/pipeline.h
          include/ossicle/detail/models/acoustic-model.h lib/cmake/ossicle/ossicleConfig.cmake
          lib/cmake/ossicle/ossicleConfigVersion.cmake bin/ossicle share/ossicle/configs/graphs/batch-keywords.yaml)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB_RECURSE pc_files "${prefix}/*/ossicle.pc")
list(LENGTH pc_files n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one installed ossicle.pc, found: ${pc_files}")
endif()

# (1) find_package(ossicle) from another project.
set(launcher)
if(LAUNCHER)
  set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run("configure tests/consumer" ${CMAKE_COMMAND} -S "${OSSICLE_SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build"
    -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_CXX_COMPILER=${CXX} ${launcher} "-DCMAKE_PREFIX_PATH=${prefix}")
run("build tests/consumer" ${CMAKE_COMMAND} --build "${WORK_DIR}/build")
set(audio "${OSSICLE_SOURCE_DIR}/test-audio")
run("ossicle-consumer" "${WORK_DIR}/build/ossicle-consumer"
    "${OSSICLE_SOURCE_DIR}/tests/data/models/lstm_bi_2layer.safetensors"
    "${prefix}/share/ossicle/configs/graphs/batch-keywords.yaml" "${WORK_DIR}"
    "${audio}/yes_en-us_16k.wav" "${audio}/no_en-gb-x-rp_16k.wav" "${audio}/stop_en_16k.wav")
message(STATUS "ossicle-consumer hits:\n${RUN_OUTPUT}")

# (2) pkg-config: the flags alone compile and link a program against the installed libraries.
find_program(PKG_CONFIG pkg-config REQUIRED)
get_filename_component(pc_dir "${pc_files}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
run("pkg-config" ${PKG_CONFIG} --cflags --libs ossicle)
string(STRIP "${RUN_OUTPUT}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
file(WRITE "${WORK_DIR}/pc-consumer.cc" [=[
#include <ossicle/features.h>
#include <cstdio>
#include <vector>
int main() {
  std::vector<float> tone(16000);
  for (size_t i = 0; i < tone.size(); ++i) tone[i] = (i % 40 < 20) ? 0.1f : -0.1f;  // 400 Hz square wave
  const ossicle::FeatureMatrix m = ossicle::ComputeFeatures(ossicle::FeatureConfig::KaldiFbank(40), tone);
  std::printf("%lld %d\n", static_cast<long long>(m.num_frames), m.dim);
  return m.num_frames == 98 && m.dim == 40 ? 0 : 1;
}
]=])
set(sanitize)
if(SANITIZE)
  set(sanitize -fsanitize=address,undefined)
endif()
run("pkg-config build" ${CXX} -O0 ${sanitize} "${WORK_DIR}/pc-consumer.cc" -o "${WORK_DIR}/pc-consumer" ${pc_flags})
run("pkg-config program" "${WORK_DIR}/pc-consumer")
message(STATUS "pkg-config program: ${RUN_OUTPUT}")
file(REMOVE_RECURSE "${WORK_DIR}")
