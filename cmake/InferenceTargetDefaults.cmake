# inference_target_defaults(<target>): the project's warning set and common settings.
# g++ 12 and clang++ 14 must both build warning-free; CI turns warnings into errors.
function(inference_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # g++ 12 reports Asio's coroutine frame operator delete as mismatched with the operator new
    # it pairs with (a false positive on coroutine frames; clang has no such warning).
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
  if(INFERENCE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # Boost.Asio: use std::coroutine support and keep the header-only pieces consistent
  # between libinference.so and the plugins (types cross the plugin boundary).
  target_compile_definitions(${target} PRIVATE BOOST_ASIO_NO_DEPRECATED)
endfunction()

# inference_add_plugin(<name> SOURCES ...): builds build/plugins/libbackend_<name>.so.
function(inference_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  set(target backend_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  inference_target_defaults(${target})
  target_link_libraries(${target} PRIVATE inference::core ${ARG_LIBS})
  set_target_properties(${target} PROPERTIES
    # Default visibility on purpose: Asio's per-thread state (template statics) must resolve
    # to the one copy in libinference.so, not a private copy per plugin. See docs/architecture.md.
    LIBRARY_OUTPUT_DIRECTORY ${INFERENCE_PLUGIN_OUTPUT_DIR}
    PREFIX "lib"
    # Installed plugins sit in <libdir>/inference/plugins and find libinference.so two levels up,
    # in <libdir>, whatever process loads them.
    INSTALL_RPATH "$ORIGIN/${INFERENCE_PLUGIN_TO_LIBDIR}")
  install(TARGETS ${target} LIBRARY DESTINATION ${INFERENCE_INSTALL_PLUGIN_DIR})
endfunction()
