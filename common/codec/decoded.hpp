// What every incremental decoder returns: a message and how many bytes of the input it used, or no
// message yet ("need more"). Decoders read the bytes buffered so far and keep nothing, so the caller
// owns the buffer, drops `used` bytes after a message, and calls again when more bytes arrive.
// Errors travel beside this, as the Error of a Result<Decoded<M>>.
#pragma once

#include <cstddef>
#include <optional>

namespace ferry {

template <class M>
struct Decoded {
  std::optional<M> msg;  // empty: the input is a strict prefix of a message, read more
  std::size_t used = 0;  // bytes of the input the message took; 0 when there is no message
};

}  // namespace ferry
