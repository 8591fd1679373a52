# LmsensTests.cmake — the test registration helpers.
#
#   lmsens_add_test(NAME SOURCES a.c [b.c] LABELS unit [ARGS ...] [LIBS ...] [TIMEOUT s])
#     builds tests/<area>/<file>.c into one binary linked with lmsens_lib and
#     registers it. Exit code 77 means skipped (GPU tests without a GPU).
#
#   lmsens_add_script_test(NAME COMMAND cmd args... LABELS e2e [TIMEOUT s])
#     registers a shell or Python test. The environment gets LMSENS_BIN (the
#     lmsens executable), LMSENS_SOURCE_DIR, LMSENS_BUILD_DIR and LMSENS_PYTHON
#     (the project's Python with the reference packages, when set up).
set(LMSENS_PYTHON "" CACHE FILEPATH "Python interpreter with the reference packages (scripts/setup-python.sh)")
if(NOT LMSENS_PYTHON AND EXISTS ${CMAKE_SOURCE_DIR}/.venv/bin/python)
  set(LMSENS_PYTHON ${CMAKE_SOURCE_DIR}/.venv/bin/python CACHE FILEPATH "" FORCE)
endif()

function(lmsens_test_env name)
  set_tests_properties(${name} PROPERTIES
    SKIP_RETURN_CODE 77
    ENVIRONMENT "LMSENS_BIN=$<TARGET_FILE:lmsens>;LMSENS_SOURCE_DIR=${CMAKE_SOURCE_DIR};LMSENS_BUILD_DIR=${CMAKE_BINARY_DIR};LMSENS_PYTHON=${LMSENS_PYTHON}")
endfunction()

function(lmsens_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LABELS;ARGS;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE lmsens_lib ${T_LIBS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  lmsens_test_env(${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  if(T_TIMEOUT)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
  endif()
endfunction()

function(lmsens_add_script_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "COMMAND;LABELS" ${ARGN})
  add_test(NAME ${name} COMMAND ${T_COMMAND})
  lmsens_test_env(${name})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}")
  if(T_TIMEOUT)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
  endif()
endfunction()
