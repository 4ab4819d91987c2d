# Installation: the `ossicle` command, its ready graphs, the three libraries as an exported CMake package
# (find_package(ossicle) -> ossicle::features, ossicle::models, ossicle::pipeline) and ossicle.pc.
#
# Installed layout (docs/library.md):
#   bin/ossicle
#   include/ossicle/{features,models,pipeline}.h       the public headers, one per library
#   include/ossicle/detail/{features,models,pipeline}/  private headers the public ones are built from; the
#                                                      exported targets put include/ossicle/detail on the
#                                                      include path, but nothing there is a stable API
#   lib/libossicle-{features,models,pipeline}.a
#   lib/cmake/ossicle/ossicle{Config,ConfigVersion,Targets}.cmake
#   lib/pkgconfig/ossicle.pc
#   share/ossicle/configs/                              graphs found by `ossicle spot` / `transcribe`
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(OSSICLE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/ossicle")
set(OSSICLE_INSTALL_DETAILDIR "${CMAKE_INSTALL_INCLUDEDIR}/ossicle/detail")

foreach(lib features models pipeline)
  target_include_directories(ossicle_${lib} INTERFACE
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}> $<INSTALL_INTERFACE:${OSSICLE_INSTALL_DETAILDIR}>)
  set_target_properties(ossicle_${lib} PROPERTIES EXPORT_NAME ${lib})
  # Eigen's memory layout depends on the vector instructions (alignment of 16 or 32 bytes): code that
  # includes ossicle's headers must be compiled for the same ones, or matrices allocated by one side are
  # freed wrongly by the other (heap corruption). So -march=native travels with the installed targets (the
  # build tree's own targets already get it from ossicle_warnings).
  if(OSSICLE_NATIVE)
    target_compile_options(ossicle_${lib} INTERFACE "$<INSTALL_INTERFACE:${OSSICLE_NATIVE_FLAGS}>")
  endif()
  # Every header under detail/ (ossicle-${lib}.h too: the public headers include each other from there).
  install(DIRECTORY "${PROJECT_SOURCE_DIR}/${lib}/" DESTINATION "${OSSICLE_INSTALL_DETAILDIR}/${lib}"
          COMPONENT development FILES_MATCHING PATTERN "*.h")
  install(FILES "${PROJECT_SOURCE_DIR}/${lib}/ossicle-${lib}.h" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/ossicle"
          RENAME ${lib}.h COMPONENT development)
endforeach()

# The libraries are static, so their private link dependencies travel with the export as $<LINK_ONLY:...>;
# ossicle_warnings is among them (only its link options reach a consumer: the sanitizer runtime of an
# OSSICLE_SANITIZE build, never -Werror; -march=native is set on the libraries themselves, above).
set_target_properties(ossicle_warnings PROPERTIES EXPORT_NAME warnings)
install(TARGETS ossicle_features ossicle_models ossicle_pipeline ossicle_warnings EXPORT ossicleTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime)
install(EXPORT ossicleTargets NAMESPACE ossicle:: DESTINATION "${OSSICLE_INSTALL_CMAKEDIR}" COMPONENT development)

install(TARGETS ossicle RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/configs" DESTINATION "${CMAKE_INSTALL_DATADIR}/ossicle" COMPONENT runtime)

# The optional libraries the exported targets link (as pipeline/CMakeLists.txt found them), for the
# config file and ossicle.pc.
get_target_property(OSSICLE_PIPELINE_LINKS ossicle_pipeline LINK_LIBRARIES)
set(OSSICLE_PC_REQUIRES "")
set(OSSICLE_PC_CFLAGS "")
if(OSSICLE_NATIVE)
  list(JOIN OSSICLE_NATIVE_FLAGS " " native_flags)
  set(OSSICLE_PC_CFLAGS " ${native_flags}")
endif()
set(OSSICLE_PC_LIBS "")
foreach(optional PORTAUDIO:portaudio-2.0 ALSA:alsa ESPEAK_NG:espeak-ng)
  string(REPLACE ":" ";" optional "${optional}")
  list(GET optional 0 pc_prefix)
  list(GET optional 1 pc_module)
  set(OSSICLE_EXPORT_${pc_prefix} OFF)
  if("PkgConfig::${pc_prefix}" IN_LIST OSSICLE_PIPELINE_LINKS)
    set(OSSICLE_EXPORT_${pc_prefix} ON)
    string(APPEND OSSICLE_PC_REQUIRES " ${pc_module}")
  endif()
endforeach()
foreach(item IN LISTS OSSICLE_PIPELINE_LINKS)
  if(IS_ABSOLUTE "${item}")  # flite's libraries (no .pc file)
    string(APPEND OSSICLE_PC_LIBS " ${item}")
  elseif(item STREQUAL "m")
    string(APPEND OSSICLE_PC_LIBS " -lm")
  endif()
endforeach()

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/ossicleConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/ossicleConfig.cmake" INSTALL_DESTINATION "${OSSICLE_INSTALL_CMAKEDIR}")
# Before 1.0 a minor version may break the API: only the same major.minor is compatible.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/ossicleConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/ossicleConfig.cmake" "${PROJECT_BINARY_DIR}/ossicleConfigVersion.cmake"
        DESTINATION "${OSSICLE_INSTALL_CMAKEDIR}" COMPONENT development)
# ossicle.pc finds its prefix from its own folder (pkg-config's pcfiledir), so `cmake --install --prefix`
# anywhere gives a working file.
file(RELATIVE_PATH OSSICLE_PC_PREFIX_FROM_PCDIR "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" OSSICLE_PC_PREFIX_FROM_PCDIR "${OSSICLE_PC_PREFIX_FROM_PCDIR}")
configure_file("${PROJECT_SOURCE_DIR}/cmake/ossicle.pc.in" "${PROJECT_BINARY_DIR}/ossicle.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/ossicle.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig" COMPONENT development)
