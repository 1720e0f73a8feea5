/* none.c: no precompiled GEMMs; what the generator (gen.c) links, since it
 * makes them (gemm_library.c) */
#include <stddef.h>

const unsigned char cg_gemm_lib_object[1];
const size_t cg_gemm_lib_size = 0;
const char cg_gemm_lib_cpu[] = "", cg_gemm_lib_features[] = "";
const int cg_gemm_lib_width = 0, cg_gemm_lib_level = 0;
const char *const cg_gemm_lib_names[1];
const int cg_gemm_lib_count = 0;
