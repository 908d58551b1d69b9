#include "common/link/chunk_queue.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace ferry::link {

void ChunkFree::operator()(Chunk* c) const noexcept {
  c->~Chunk();
  ::operator delete(c);
}

ChunkPtr make_chunk(std::size_t capacity) {
  void* raw = ::operator new(sizeof(Chunk) + capacity);
  ChunkPtr c(new (raw) Chunk{});
  c->capacity = static_cast<std::uint32_t>(capacity);
  return c;
}

ChunkPtr ChunkPool::take() {
  if (free_.empty()) return make_chunk(Chunk::kBytes);
  auto c = std::move(free_.back());
  free_.pop_back();
  c->head = c->tail = 0;
  return c;
}

void ChunkPool::give(ChunkPtr c) {
  if (c->capacity == Chunk::kBytes && free_.size() < max_free_) free_.push_back(std::move(c));
}

void ChunkQueue::push(ChunkPtr c) {
  footprint_ += sizeof(Chunk) + c->capacity;
  chunks_.push_back(std::move(c));
}

void ChunkQueue::give_back(ChunkPtr& c, ChunkPool& pool) {
  footprint_ -= sizeof(Chunk) + c->capacity;
  pool.give(std::move(c));
}

void ChunkQueue::append(ByteSpan bytes, ChunkPool& pool) {
  if (chunks_.size() == first_ && !bytes.empty() && bytes.size() <= Chunk::kSmallMax) {
    // Rounded up to 64 bytes, so a message that grows a little still fits.
    push(make_chunk((bytes.size() + 63) & ~std::size_t{63}));
  }
  while (!bytes.empty()) {
    if (chunks_.size() == first_ || chunks_.back()->room() == 0) push(pool.take());
    Chunk& c = *chunks_.back();
    const std::size_t n = std::min<std::size_t>(bytes.size(), c.room());
    std::memcpy(c.data() + c.tail, bytes.data(), n);
    c.tail += static_cast<std::uint32_t>(n);
    size_ += n;
    bytes = bytes.subspan(n);
  }
}

MutByteSpan ChunkQueue::tail_space(ChunkPool& pool) {
  // Reads go into full-size chunks: the few bytes left in a small one would cap the next bulk read
  // at those (one more syscall for a handful of bytes).
  if (chunks_.size() == first_ || chunks_.back()->room() == 0 || chunks_.back()->capacity != Chunk::kBytes)
    push(pool.take());
  Chunk& c = *chunks_.back();
  return MutByteSpan(c.data() + c.tail, c.room());
}

void ChunkQueue::commit(std::size_t n, ChunkPool& pool) {
  if (chunks_.size() == first_) return;  // nothing reserved (an empty send())
  Chunk& c = *chunks_.back();
  c.tail += static_cast<std::uint32_t>(n);
  size_ += n;
  if (c.tail == 0) {  // reserved and left unused
    give_back(chunks_.back(), pool);
    chunks_.pop_back();
    sending_ = std::min(sending_, chunks_.size());
    compact();
  }
}

void ChunkQueue::move_to(Bytes& out, std::size_t n, ChunkPool& pool) {
  n = std::min(n, size_);
  while (n > 0) {
    Chunk& c = *chunks_[sending_];
    const std::size_t take = std::min<std::size_t>(n, c.tail - c.head);
    out.insert(out.end(), c.data() + c.head, c.data() + c.head + take);
    c.head += static_cast<std::uint32_t>(take);
    size_ -= take;
    n -= take;
    if (retaining_) {
      retained_ += take;
      // A chunk with room, the last one, stays the one being sent from: appends go on at its tail.
      if (c.head == c.tail && (c.room() == 0 || sending_ + 1 < chunks_.size())) ++sending_;
    } else if (c.head == c.tail) {
      give_back(chunks_[first_++], pool);
      sending_ = first_;
    }
  }
  compact();
}

void ChunkQueue::ack(std::size_t n, ChunkPool& pool) {
  n = std::min(n, retained_);
  retained_ -= n;
  while (n > 0) {
    Chunk& c = *chunks_[first_];
    const std::size_t take = std::min<std::size_t>(n, c.head - acked_head_);
    acked_head_ += static_cast<std::uint32_t>(take);
    n -= take;
    // Fully sent, acknowledged and full: nothing more goes into it.
    if (acked_head_ == c.tail && (c.room() == 0 || first_ < sending_)) {
      give_back(chunks_[first_++], pool);
      acked_head_ = 0;
      sending_ = std::max(sending_, first_);
    }
  }
  // A chunk both sent and acknowledged to its tail, with room left, is the last one: drop it too
  // when nothing is unsent, so an idle stream holds no chunk.
  if (retained_ == 0 && size_ == 0 && first_ < chunks_.size()) {
    for (std::size_t i = first_; i < chunks_.size(); ++i) give_back(chunks_[i], pool);
    first_ = sending_ = chunks_.size();
    acked_head_ = 0;
  }
  compact();
}

void ChunkQueue::rewind() noexcept {
  if (retained_ == 0) return;
  for (std::size_t i = first_; i <= sending_ && i < chunks_.size(); ++i)
    chunks_[i]->head = i == first_ ? acked_head_ : 0;
  sending_ = first_;
  size_ += retained_;
  retained_ = 0;
}

void ChunkQueue::compact() {
  if (first_ == chunks_.size()) {
    chunks_.clear();
    first_ = sending_ = 0;
    acked_head_ = 0;
    if (chunks_.capacity() > 64) std::vector<ChunkPtr>().swap(chunks_);
  } else if (first_ >= 32) {
    const auto drop = static_cast<std::ptrdiff_t>(first_);
    chunks_.erase(chunks_.begin(), chunks_.begin() + drop);
    sending_ -= first_;
    first_ = 0;
  }
}

void ChunkQueue::clear(ChunkPool& pool) {
  for (std::size_t i = first_; i < chunks_.size(); ++i) give_back(chunks_[i], pool);
  std::vector<ChunkPtr>().swap(chunks_);
  first_ = sending_ = size_ = retained_ = footprint_ = 0;
  acked_head_ = 0;
}

}  // namespace ferry::link
