// A byte queue made of chunks: full 64 KiB chunks drawn from a per-link pool, and small ones sized to
// a small message. Streams that move data reuse warm full chunks instead of growing and freeing large
// vectors, which glibc hands back to the kernel and faults in again (docs/decisions/0001). A small
// message on an empty queue (a keystroke, one request of a thousand held connections) gets a chunk
// of its own size instead of 64 KiB: ten thousand connections answering at once must not cost
// 640 MiB. Full chunks are 64 KiB because a socket is read into them in place: against 16 KiB, a
// quarter of the read syscalls and of the window-update ACKs each read sends
// (docs/decisions/0011-64-kib-send-chunks.md). An idle stream holds no chunk at all.
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
  // Appends the first n queued bytes to `out` and drops them from the queue.
  void move_to(Bytes& out, std::size_t n, ChunkPool& pool);
  void clear(ChunkPool& pool);
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // The memory its chunks take (capacity and header), which the relay's budget counts.
  std::size_t footprint() const noexcept { return footprint_; }

 private:
  void push(ChunkPtr c);
  void give_back(ChunkPtr& c, ChunkPool& pool);

  std::vector<ChunkPtr> chunks_;  // from first_ on
  std::size_t first_ = 0;
  std::size_t size_ = 0;
  std::size_t footprint_ = 0;
};

}  // namespace ferry::link
