# find_package(inference CONFIG) support for host applications.
include(CMakePackageConfigHelpers)
install(EXPORT inferenceTargets NAMESPACE inference:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/inference)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/inferenceConfig.cmake.in
  ${CMAKE_BINARY_DIR}/inferenceConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/inference
  PATH_VARS INFERENCE_INSTALL_PLUGIN_DIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/inferenceConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/inferenceConfig.cmake ${CMAKE_BINARY_DIR}/inferenceConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/inference)
