#include "common/link/control_queue.hpp"

#include "common/codec/link_frame.hpp"

namespace ferry::link {

Result<void> ControlQueue::within_bound() const {
  if (size() > max_bytes_) return fail(Errc::Limit, "the peer does not read: control frames piled up");
  return {};
}

std::size_t ControlQueue::move_to(Bytes& out, std::size_t room) {
  std::size_t moved = 0;
  while (head_ < bytes_.size()) {
    const std::size_t len = frame::kHeaderBytes + get_be16(&bytes_[head_ + 6]);
    if (moved + len > room) break;
    out.insert(out.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(head_),
               bytes_.begin() + static_cast<std::ptrdiff_t>(head_ + len));
    head_ += len;
    moved += len;
  }
  if (head_ == bytes_.size()) {
    bytes_.clear();
    head_ = 0;
    // A burst (thousands of OPEN_RESULTs) does not pin its buffer for the life of the link.
    if (bytes_.capacity() > 64 * 1024) Bytes().swap(bytes_);
  }
  return moved;
}

}  // namespace ferry::link
