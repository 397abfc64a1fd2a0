# Compiler settings shared by every target we own.

# ISCSI_CSI_SANITIZE: flags are applied globally so that gtest, our libraries and the generated
# code agree on the ABI.
string(TOLOWER "${ISCSI_CSI_SANITIZE}" _iscsi_csi_sanitize)
if(_iscsi_csi_sanitize STREQUAL "thread")
  # ThreadSanitizer. Debian's gRPC, protobuf, glog and prometheus-cpp stay uninstrumented: TSan
  # sees their locking (pthread and std::mutex through its interceptors, absl::Mutex through the
  # instrumented Abseil below) but not their plain memory accesses (tests/tsan.supp says more).
  # -Wno-tsan: gcc warns that TSan does not model std::atomic_thread_fence; the only fences are
  # in Abseil's flags SequenceLock, inlined into our code by absl::GetFlag (ours has none).
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  # DT_RPATH instead of DT_RUNPATH: an RPATH also serves the NEEDED entries of Debian's libgrpc
  # and libprotobuf, so the whole process loads the instrumented Abseil, never /usr/lib's.
  add_link_options(-fsanitize=thread -Wl,--disable-new-dtags)
elseif(ISCSI_CSI_SANITIZE)  # ON, address
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# iscsi_csi_sanitize_dependencies(): call after the find_package calls. Under ThreadSanitizer:
# - absl::Mutex, CondVar and Notification must come from an Abseil compiled with
#   -fsanitize=thread. Debian's libabsl is not, so its lock, unlock and wait (out of line, futex
#   based) are invisible to TSan and every field an absl::Mutex guards would be reported as racy.
#   Configuring fails when the absl::synchronization found has no TSan mutex annotations.
# - Debian's libprotobuf (3.21) is not instrumented, and its headers give MapFieldBase two extra
#   members when __SANITIZE_THREAD__ is defined: code compiled against them with it disagrees with
#   the library on the layout of every map field (crashes in the generated code). Whatever sees
#   protobuf headers is compiled with -U__SANITIZE_THREAD__: it is still fully instrumented, only
#   the headers' TSan-only variants (protobuf's, and Abseil's inline annotations) are left out.
function(iscsi_csi_sanitize_dependencies)
  if(NOT _iscsi_csi_sanitize STREQUAL "thread")
    return()
  endif()
  get_target_property(_lib absl::synchronization LOCATION)
  file(STRINGS "${_lib}" _annotated LIMIT_COUNT 1 REGEX "__tsan_mutex_pre_lock")
  if(NOT _annotated)
    message(FATAL_ERROR "ISCSI_CSI_SANITIZE=thread: ${_lib} is not built with -fsanitize=thread; "
                        "build Debian's abseil source with it first (scripts/tsan.sh does) and put "
                        "its install prefix in CMAKE_PREFIX_PATH (the tsan preset: build/absl-tsan/install)")
  endif()
  message(STATUS "ThreadSanitizer: instrumented Abseil ${_lib}")
  set_property(TARGET protobuf::libprotobuf APPEND PROPERTY
               INTERFACE_COMPILE_OPTIONS -U__SANITIZE_THREAD__)
endfunction()

# iscsi_csi_set_warnings(<target>): strict warnings for our own code (never for generated code).
function(iscsi_csi_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                         -Wnon-virtual-dtor -Wimplicit-fallthrough -Wno-missing-field-initializers)
  if(ISCSI_CSI_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
