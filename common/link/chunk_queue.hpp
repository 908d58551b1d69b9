// A byte queue made of fixed 16 KiB chunks drawn from a per-link pool. Streams that move data reuse
// warm chunks instead of growing and freeing large vectors (which glibc hands back to the kernel and
// faults in again: page-fault and page-clearing time showed up as a tenth of the sender's CPU), and
// an idle stream holds no chunk at all.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "common/codec/byte_reader.hpp"

namespace ferry::link {

struct Chunk {
  static constexpr std::size_t kBytes = 16 * 1024;
  std::uint32_t head = 0;  // first unread byte
  std::uint32_t tail = 0;  // one past the last written byte
  std::array<std::uint8_t, kBytes> bytes;
};

class ChunkPool {
 public:
  explicit ChunkPool(std::size_t max_free) : max_free_(max_free) {}
  std::unique_ptr<Chunk> take();
  void give(std::unique_ptr<Chunk> c);
  std::size_t free_chunks() const noexcept { return free_.size(); }
  void release_all() { std::vector<std::unique_ptr<Chunk>>().swap(free_); }

 private:
  std::vector<std::unique_ptr<Chunk>> free_;
  std::size_t max_free_;
};

class ChunkQueue {
 public:
  void append(ByteSpan bytes, ChunkPool& pool);
  // Writable space at the tail (a new chunk when the last one is full), for a producer that reads
  // straight into the queue; commit(n) then makes n of those bytes part of the queue.
  MutByteSpan tail_space(ChunkPool& pool);
  // commit(0) after an empty read gives an untouched tail chunk back, so an idle stream holds none.
  void commit(std::size_t n, ChunkPool& pool);
  // Appends the first n queued bytes to `out` and drops them from the queue.
  void move_to(Bytes& out, std::size_t n, ChunkPool& pool);
  void clear(ChunkPool& pool);
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

 private:
  std::vector<std::unique_ptr<Chunk>> chunks_;  // from first_ on
  std::size_t first_ = 0;
  std::size_t size_ = 0;
};

}  // namespace ferry::link
