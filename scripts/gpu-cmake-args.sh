# Sourced by the GPU-box scripts (gpu-test.sh, gpu-bench.sh): sets the array gpu_cmake_args, the
# CMake arguments of the CUDA build there. LibTorch from Python's torch; the distribution's g++ (the
# one Catch2 v3's static library was built with: a test binary mixing /opt/gcc's libstdc++ with it
# crashed whenever an exception was thrown); PCRE2's and, where the image lacks them, OpenSSL's
# headers from .carry (scripts/carry-gpu-deps.sh); sm_90.
gpu_cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DTORCH_CUDA_ARCH_LIST=9.0
  "-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')")
[ -x /usr/bin/g++ ] && gpu_cmake_args+=(-DCMAKE_CXX_COMPILER=/usr/bin/g++ -DCMAKE_C_COMPILER=/usr/bin/gcc)
gpu_cmake_args+=("-DKVSVD_PCRE2_ROOT=$root/.carry/pcre2/usr")
if [ -e /usr/lib/x86_64-linux-gnu/libpcre2-8.so.0 ]; then
  gpu_cmake_args+=(-DPCRE2_LIBRARY=/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0)
fi
if [ ! -f /usr/include/openssl/evp.h ] && [ -f "$root/.carry/openssl/usr/include/openssl/evp.h" ]; then
  # Link against the carried libcrypto.so (soname libcrypto.so.3); the box's own libcrypto.so.3
  # (OpenSSL 3.0, the same ABI) is what loads at run time.
  gpu_cmake_args+=("-DOPENSSL_ROOT_DIR=$root/.carry/openssl/usr"
    "-DOPENSSL_INCLUDE_DIR=$root/.carry/openssl/usr/include"
    "-DOPENSSL_CRYPTO_LIBRARY=$root/.carry/openssl/usr/lib/x86_64-linux-gnu/libcrypto.so")
fi
