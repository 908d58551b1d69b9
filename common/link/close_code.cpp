#include "common/link/close_code.hpp"

namespace ferry::link {

frame::CloseCode close_code_for(Errc why) noexcept {
  switch (why) {
    case Errc::Timeout:
      return frame::CloseCode::Timeout;
    case Errc::Refused:  // a key no longer admitted, found in an in-link handshake
      return frame::CloseCode::Revoked;
    default:
      return frame::CloseCode::ProtocolError;
  }
}

Error closed_by_peer(frame::CloseCode code) noexcept {
  switch (code) {
    case frame::CloseCode::Normal:
      return fail(Errc::Closed, "the peer closed the link");
    case frame::CloseCode::Shutdown:
      return fail(Errc::Closed, "the peer shut down");
    case frame::CloseCode::Revoked:
      return fail(Errc::Closed, "the peer revoked this key");
    case frame::CloseCode::Limit:  // told apart from a clean end: the agent backs off
      return fail(Errc::TooManyLinks, "the relay already holds as many links of this key as it admits");
    default:
      return fail(Errc::Closed, "the peer closed the link after an error");
  }
}

}  // namespace ferry::link
