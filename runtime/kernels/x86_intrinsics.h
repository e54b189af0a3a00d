#pragma once

// <immintrin.h> for the files compiled with AVX-512 flags. GCC 12's AVX-512 headers fill "undefined"
// vectors by reading them uninitialised, which it then warns about wherever an intrinsic using one is
// inlined. The warnings point into the header, so silencing them around the include keeps them for
// the including file's own code.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
