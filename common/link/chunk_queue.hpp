// A byte queue made of chunks: full 64 KiB chunks drawn from a per-link pool, and small ones sized to
// a small message. Streams that move data reuse warm full chunks instead of growing and freeing large
// vectors, which glibc hands back to the kernel and faults in again (docs/decisions/0001). A small
// message on an empty queue (a keystroke, one request of a thousand held connections) gets a chunk
// of its own size instead of 64 KiB: ten thousand connections answering at once must not cost
// 640 MiB. Full chunks are 64 KiB because a socket is read into them in place: against 16 KiB, a
// quarter of the read syscalls and of the window-update ACKs each read sends
// (docs/decisions/0011-64-kib-send-chunks.md). An idle stream holds no chunk at all.
//
// A resumable stream (docs/protocol.md "Stream resumption") keeps the bytes it sent until the peer
// says it has them: with retain(), move_to() leaves sent bytes in their chunks, ack() frees them
// from the front, and rewind() makes the unacknowledged ones the next to send again. No copy: the
// chunks stay where the bytes were read into.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/codec/byte_reader.hpp"

namespace ferry::link {

struct Chunk {
  static constexpr std::size_t kBytes = 64 * 1024;
  // Appends of at most this many bytes to an empty queue get a chunk of their own size.
  static constexpr std::size_t kSmallMax = 2048;
  std::uint32_t head = 0;  // first unread byte
  std::uint32_t tail = 0;  // one past the last written byte
  std::uint32_t capacity = 0;
  std::uint8_t* data() noexcept { return reinterpret_cast<std::uint8_t*>(this + 1); }
  std::uint32_t room() const noexcept { return capacity - tail; }
};

struct ChunkFree {
  void operator()(Chunk* c) const noexcept;
};
using ChunkPtr = std::unique_ptr<Chunk, ChunkFree>;
// A chunk with room for `capacity` bytes, in one allocation.
ChunkPtr make_chunk(std::size_t capacity);

class ChunkPool {
 public:
  explicit ChunkPool(std::size_t max_free) : max_free_(max_free) {}
  ChunkPtr take();        // a full-size chunk
  void give(ChunkPtr c);  // keeps full-size chunks up to the bound; frees the rest
  std::size_t free_chunks() const noexcept { return free_.size(); }
  void release_all() { std::vector<ChunkPtr>().swap(free_); }

 private:
  std::vector<ChunkPtr> free_;
  std::size_t max_free_;
};

class ChunkQueue {
 public:
  void append(ByteSpan bytes, ChunkPool& pool);
  // Writable space at the tail (a new full-size chunk when the last one is full or small), for a
  // producer that reads straight into the queue; commit(n) then makes n of those bytes part of it.
  MutByteSpan tail_space(ChunkPool& pool);
  // commit(0) after an empty read gives an untouched tail chunk back, so an idle stream holds none.
  void commit(std::size_t n, ChunkPool& pool);
  // Appends the first n unsent bytes to `out`; they leave the queue, or, when retaining, wait in it
  // for ack().
  void move_to(Bytes& out, std::size_t n, ChunkPool& pool);
  // From now on, sent bytes are kept until acknowledged. Set before the first move_to().
  void retain() noexcept { retaining_ = true; }
  bool retaining() const noexcept { return retaining_; }
  // The peer has the first n retained bytes: they are freed (at most retained()).
  void ack(std::size_t n, ChunkPool& pool);
  // Every retained byte is unsent again, in order, ahead of the rest (a link was lost; the peer has
  // what was acked, and wants the rest once more).
  void rewind() noexcept;
  void clear(ChunkPool& pool);
  // Bytes not yet sent.
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // Bytes sent and kept for the peer to acknowledge.
  std::size_t retained() const noexcept { return retained_; }
  // The memory its chunks take (capacity and header), which the relay's budget counts.
  std::size_t footprint() const noexcept { return footprint_; }

 private:
  void push(ChunkPtr c);
  void give_back(ChunkPtr& c, ChunkPool& pool);

  // Dropped chunks are compacted away now and then.
  void compact();

  std::vector<ChunkPtr> chunks_;  // live from first_ on
  std::size_t first_ = 0;
  // The chunk the next unsent byte is in (its head); equal to first_ unless retaining. Chunks from
  // first_ up to it hold retained bytes, the first of them from acked_head_ on.
  std::size_t sending_ = 0;
  std::uint32_t acked_head_ = 0;
  std::size_t size_ = 0;
  std::size_t retained_ = 0;
  std::size_t footprint_ = 0;
  bool retaining_ = false;
};

}  // namespace ferry::link
