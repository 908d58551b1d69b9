#include "common/codec/http1_head_progress.hpp"

#include "common/codec/http1_head.hpp"

namespace ferry::http1 {

bool head_may_be_decided(ByteSpan head, std::size_t old_size) noexcept {
  // From the last old byte: a CR there is bare unless the new bytes begin with its LF.
  for (std::size_t i = old_size > 0 ? old_size - 1 : 0; i < head.size(); ++i) {
    const std::uint8_t c = head[i];
    if ((c < 0x20 && c != '\t') || c == 0x7F) return true;  // LF, CR, or a byte no head may hold
  }
  // Decoding again at every multiple of the start line's limit notices any length limit passed at
  // most that many bytes late.
  constexpr std::size_t kStep = Limits{}.max_start_line_bytes;
  return old_size / kStep != head.size() / kStep;
}

}  // namespace ferry::http1
