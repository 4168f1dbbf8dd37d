// Function multi-versioning for the model's hot loops on x86-64.
//
// The default x86-64 target vectorises 4 floats at a time; TS_VECTOR_CLONES builds a function
// also for AVX2 and AVX-512 and lets the loader pick the widest the CPU has. The clones are
// chosen by CPU feature, not by CPU model: a model-based choice ("arch=...") falls back to the
// 4-wide code on virtualised CPUs whose model the compiler does not know. Elsewhere (other
// architectures, other compilers) the macro is empty and the plain build is used.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(TOWERSTREAM_NO_VECTOR_CLONES)
#define TS_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TS_VECTOR_CLONES
#endif
