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
