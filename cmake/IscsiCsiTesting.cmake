# iscsi_csi_add_test(NAME <name> SOURCES <files...> LIBS <libs...> [LABELS <labels...>])
# One GoogleTest executable; each TEST becomes its own ctest entry carrying the labels
# (default: unit). Conformance/e2e tests that need a missing tool exit 77 (skipped).
# Each label also gets a build target, tests_<label>, for all of its executables.
function(iscsi_csi_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest GTest::gtest_main)
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  iscsi_csi_set_warnings(${T_NAME})
  gtest_discover_tests(${T_NAME}
                       TEST_PREFIX "${T_NAME}."
                       NO_PRETTY_VALUES NO_PRETTY_TYPES
                       PROPERTIES LABELS "${T_LABELS}" SKIP_RETURN_CODE 77
                       DISCOVERY_TIMEOUT 60)
  # tests_<label> builds only the executables of one label (scripts/tsan.sh: unit, conformance).
  foreach(_label IN LISTS T_LABELS)
    if(NOT TARGET tests_${_label})
      add_custom_target(tests_${_label})
    endif()
    add_dependencies(tests_${_label} ${T_NAME})
  endforeach()
endfunction()
