#include "common/link/chunk_queue.hpp"

#include <algorithm>
#include <cstring>

namespace ferry::link {

std::unique_ptr<Chunk> ChunkPool::take() {
  if (free_.empty()) return std::make_unique<Chunk>();
  auto c = std::move(free_.back());
  free_.pop_back();
  c->head = c->tail = 0;
  return c;
}

void ChunkPool::give(std::unique_ptr<Chunk> c) {
  if (free_.size() < max_free_) free_.push_back(std::move(c));
}

void ChunkQueue::append(ByteSpan bytes, ChunkPool& pool) {
  while (!bytes.empty()) {
    if (chunks_.size() == first_ || chunks_.back()->tail == Chunk::kBytes) chunks_.push_back(pool.take());
    Chunk& c = *chunks_.back();
    const std::size_t n = std::min(bytes.size(), Chunk::kBytes - c.tail);
    std::memcpy(c.bytes.data() + c.tail, bytes.data(), n);
    c.tail += static_cast<std::uint32_t>(n);
    size_ += n;
    bytes = bytes.subspan(n);
  }
}

MutByteSpan ChunkQueue::tail_space(ChunkPool& pool) {
  if (chunks_.size() == first_ || chunks_.back()->tail == Chunk::kBytes) chunks_.push_back(pool.take());
  Chunk& c = *chunks_.back();
  return MutByteSpan(c.bytes.data() + c.tail, Chunk::kBytes - c.tail);
}

void ChunkQueue::commit(std::size_t n, ChunkPool& pool) {
  if (chunks_.size() == first_) return;  // nothing reserved (an empty send())
  Chunk& c = *chunks_.back();
  c.tail += static_cast<std::uint32_t>(n);
  size_ += n;
  if (c.tail == 0) {  // reserved and left unused
    pool.give(std::move(chunks_.back()));
    chunks_.pop_back();
    if (chunks_.size() == first_) {
      chunks_.clear();
      first_ = 0;
    }
  }
}

void ChunkQueue::move_to(Bytes& out, std::size_t n, ChunkPool& pool) {
  n = std::min(n, size_);
  while (n > 0) {
    Chunk& c = *chunks_[first_];
    const std::size_t take = std::min<std::size_t>(n, c.tail - c.head);
    out.insert(out.end(), c.bytes.begin() + c.head, c.bytes.begin() + c.head + take);
    c.head += static_cast<std::uint32_t>(take);
    size_ -= take;
    n -= take;
    if (c.head == c.tail) pool.give(std::move(chunks_[first_++]));
  }
  if (first_ == chunks_.size()) {
    chunks_.clear();
    first_ = 0;
    if (chunks_.capacity() > 64) std::vector<std::unique_ptr<Chunk>>().swap(chunks_);
  } else if (first_ >= 32) {
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(first_));
    first_ = 0;
  }
}

void ChunkQueue::clear(ChunkPool& pool) {
  for (std::size_t i = first_; i < chunks_.size(); ++i) pool.give(std::move(chunks_[i]));
  std::vector<std::unique_ptr<Chunk>>().swap(chunks_);
  first_ = size_ = 0;
}

}  // namespace ferry::link
