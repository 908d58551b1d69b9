// An assertion that aborts in every build type, so the fuzzer sees a broken invariant as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FERRY_FUZZ_ASSERT(cond)                                                         \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
