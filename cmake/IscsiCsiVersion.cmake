# The version reported by GetPluginInfo and --version: the project version plus the git commit
# when the source is a git checkout ("0.1.0+g1a2b3c4", "-dirty" when the tree has changes).
set(ISCSI_CSI_VERSION "${PROJECT_VERSION}")
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS "${PROJECT_SOURCE_DIR}/.git")
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=10
                  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                  OUTPUT_VARIABLE _git_describe OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE _git_rc)
  if(_git_rc EQUAL 0 AND NOT _git_describe STREQUAL "")
    set(ISCSI_CSI_VERSION "${PROJECT_VERSION}+g${_git_describe}")
  endif()
endif()
message(STATUS "iscsi-csi version ${ISCSI_CSI_VERSION}")
