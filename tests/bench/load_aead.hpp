#pragma once

namespace ferry::bench {

// Prints one JSON line per AEAD with its single-core encryption rate, measured for `seconds` each,
// then the library versions.
int run_aead(double seconds);

}  // namespace ferry::bench
