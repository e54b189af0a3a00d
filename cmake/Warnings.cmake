# Warnings and tuning shared by every shardlm target.
add_library(shardlm_options INTERFACE)
target_compile_options(shardlm_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion-null
  -Wno-sign-compare)
if(SHARDLM_NATIVE)
  target_compile_options(shardlm_options INTERFACE $<$<CONFIG:Release,RelWithDebInfo>:-march=native>)
endif()
target_compile_options(shardlm_options INTERFACE $<$<CONFIG:Release,RelWithDebInfo>:-O3>)
