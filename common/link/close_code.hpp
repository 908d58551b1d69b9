// What a CLOSE frame's code means (docs/protocol.md 4.11), one table each way: the code this side sends
// when it ends the link over an error it detected, and the error it reports when the peer closes. The
// peer's reason text stays the peer's: the error names the code in fixed words.
#pragma once

#include "common/codec/link_frame.hpp"
#include "common/result.hpp"

namespace ferry::link {

frame::CloseCode close_code_for(Errc why) noexcept;
Error closed_by_peer(frame::CloseCode code) noexcept;

}  // namespace ferry::link
