# Compiler settings shared by every target we own.

if(ISCSI_CSI_SANITIZE)
  # Applied globally so that gtest, our libraries and the generated code agree on the ABI.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# iscsi_csi_set_warnings(<target>): strict warnings for our own code (never for generated code).
function(iscsi_csi_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                         -Wnon-virtual-dtor -Wimplicit-fallthrough -Wno-missing-field-initializers)
  if(ISCSI_CSI_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
