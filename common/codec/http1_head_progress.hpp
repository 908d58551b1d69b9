// When an unfinished HTTP request head is worth decoding again. decode_request_head() reads the
// whole buffer on every call, so a head that trickles in a few bytes per read (a slowloris sends one
// at a time) would cost a pass over everything so far for each read. Its answer on an unfinished
// head can only change when new bytes end a line (a LF), bring a byte it refuses even in a line
// still open (a control byte, or a CR that no LF follows), or take the head past a length limit;
// after any other read it still says "need more".
//
// Beside the decoder, so that the sans-I/O exchange (http1_exchange.hpp) and the agent's front end
// (ClientSession) share it.
#pragma once

#include <cstddef>

#include "common/codec/byte_reader.hpp"

namespace ferry::http1 {

// `head` is the buffered head with the new bytes at its end, `old_size` its size before them; the
// decoder said "need more" for those first `old_size` bytes. A length limit passed is noticed at the
// next multiple of the start line's limit (8 KiB), so an oversized head gets the same answer (414 or
// 431) at most that many bytes later.
[[nodiscard]] bool head_may_be_decided(ByteSpan head, std::size_t old_size) noexcept;

}  // namespace ferry::http1
