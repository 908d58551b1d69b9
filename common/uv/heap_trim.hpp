// Gives the heap's free pages back to the kernel. glibc returns memory on its own only from the top
// of the heap; after a burst (ten thousand connections that each carried a message, then closed) the
// free space is spread through the heap and stays resident. The links call this when they go idle.
#pragma once

namespace ferry::uv {

// At most once a second per process, whatever the number of callers; a no-op off glibc.
void trim_heap() noexcept;

}  // namespace ferry::uv
