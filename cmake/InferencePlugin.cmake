# inference_add_plugin(<name> SOURCES ... [LIBS ...]): builds build/plugins/libbackend_<name>.so
# and installs it into <libdir>/inference/plugins.
#
# A plugin exports one symbol, inference_plugin_v1 (cmake/plugin_exports.map): the loader needs
# nothing else, and every other symbol stays private to the plugin, so two plugins never bind to
# each other's copies of the same code. The shared engine (libinference_llama_server.so) is a
# library, not a plugin, and exports its API (plugins/llama_server/engine/engine_exports.map).
function(inference_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  set(target backend_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  inference_target_defaults(${target})
  target_link_libraries(${target} PRIVATE inference::core ${ARG_LIBS})
  set(exports ${PROJECT_SOURCE_DIR}/cmake/plugin_exports.map)
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${exports}"
    # Never unmapped: the plugin's code may have registered Asio services (whose vtables are in
    # the plugin) with a host's io_context that outlives the plugin's last object. Exported
    # template statics (STB_GNU_UNIQUE) used to have glibc keep every plugin loaded; this keeps
    # that behaviour now that they are local.
    "LINKER:-z,nodelete")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${exports})
  set_target_properties(${target} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${INFERENCE_PLUGIN_OUTPUT_DIR}
    PREFIX "lib"
    # Installed plugins sit in <libdir>/inference/plugins and find libinference.so and the
    # engine library two levels up, in <libdir>, whatever process loads them.
    INSTALL_RPATH "$ORIGIN/${INFERENCE_PLUGIN_TO_LIBDIR}")
  install(TARGETS ${target} LIBRARY DESTINATION ${INFERENCE_INSTALL_PLUGIN_DIR})
endfunction()
