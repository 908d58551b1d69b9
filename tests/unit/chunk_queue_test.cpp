#include "common/link/chunk_queue.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

#include "tests/unit/test_util.hpp"

using namespace ferry;
using link::Chunk;
using link::ChunkPool;
using link::ChunkQueue;

TEST_CASE("chunk queue: bytes come out in order across chunk boundaries", "[chunks]") {
  ChunkPool pool(8);
  ChunkQueue q;
  Bytes in(3 * Chunk::kBytes + 123);
  test::pattern(5, 0, in);
  q.append(ByteSpan(in).first(1000), pool);
  q.append(ByteSpan(in).subspan(1000), pool);
  CHECK(q.size() == in.size());
  Bytes out;
  for (std::size_t n : {std::size_t{1}, std::size_t{16383}, std::size_t{20000}, in.size()})
    q.move_to(out, n, pool);
  CHECK((out == in));
  CHECK(q.empty());
  // The first 1000 bytes went into a small chunk of their own (freed, not pooled); the rest filled
  // three full chunks, which went back to the pool.
  CHECK(pool.free_chunks() == 3);
}

TEST_CASE("chunk queue: a small message on an empty queue costs its size, not 16 KiB", "[chunks]") {
  ChunkPool pool(8);
  ChunkQueue q;
  const Bytes msg(100, 'x');
  q.append(msg, pool);
  CHECK(q.size() == 100);
  // A read gets a full chunk, not the 28 bytes left in the small one (128, rounded): a bulk read
  // capped at those would cost a syscall for almost nothing.
  auto room = q.tail_space(pool);
  CHECK(room.size() == Chunk::kBytes);
  q.commit(0, pool);  // unused: back to the pool
  CHECK(pool.free_chunks() == 1);
  q.append(Bytes(Chunk::kBytes, 'y'), pool);  // more than it holds: full chunks follow
  CHECK(q.size() == 100 + Chunk::kBytes);
  Bytes out;
  q.move_to(out, out.max_size(), pool);
  CHECK(out.size() == 100 + Chunk::kBytes);
  CHECK(std::equal(out.begin(), out.begin() + 100, msg.begin()));
  CHECK(pool.free_chunks() == 1);                    // the one full chunk; the small one was freed
  q.append(Bytes(Chunk::kSmallMax + 1, 'z'), pool);  // not small: a pooled chunk
  CHECK(pool.free_chunks() == 0);
  q.clear(pool);
  CHECK(pool.free_chunks() == 1);
}

TEST_CASE("chunk queue: a read after a small message goes into a full chunk, in order", "[chunks]") {
  ChunkPool pool(8);
  ChunkQueue q;
  q.append(Bytes{'a', 'b', 'c'}, pool);
  auto space = q.tail_space(pool);
  REQUIRE(space.size() == Chunk::kBytes);
  space[0] = 'd';
  q.commit(1, pool);
  q.append(Bytes{'e'}, pool);
  Bytes out;
  q.move_to(out, 100, pool);
  CHECK(out == Bytes{'a', 'b', 'c', 'd', 'e'});
  CHECK(pool.free_chunks() == 1);
}

TEST_CASE("chunk queue: in-place reads, and an unused reservation is given back", "[chunks]") {
  ChunkPool pool(8);
  ChunkQueue q;
  auto space = q.tail_space(pool);
  REQUIRE(space.size() == Chunk::kBytes);
  space[0] = 'h';
  space[1] = 'i';
  q.commit(2, pool);
  CHECK(q.size() == 2);
  auto more = q.tail_space(pool);
  CHECK(more.size() == Chunk::kBytes - 2);
  q.commit(0, pool);  // an empty read: the partly used chunk stays
  Bytes out;
  q.move_to(out, 10, pool);
  CHECK(out == Bytes{'h', 'i'});
  CHECK(pool.free_chunks() == 1);

  (void)q.tail_space(pool);  // a fresh chunk, then EOF
  q.commit(0, pool);
  CHECK(q.empty());
  CHECK(pool.free_chunks() == 1);  // it went back: an idle stream holds no chunk
  q.commit(0, pool);               // nothing reserved: harmless
}

TEST_CASE("chunk pool keeps at most its bound", "[chunks]") {
  ChunkPool pool(2);
  ChunkQueue q;
  q.append(Bytes(5 * Chunk::kBytes), pool);
  q.clear(pool);
  CHECK(pool.free_chunks() == 2);
  pool.release_all();
  CHECK(pool.free_chunks() == 0);
}

// A resumable stream's queue: bytes sent stay until acknowledged, and a rewind sends the
// unacknowledged ones again, in order, before anything newer. Checked against a plain model at
// every split of appends, sends and acks.
TEST_CASE("chunk queue: retained bytes are freed by acks and sent again after a rewind", "[chunks][resume]") {
  link::ChunkPool pool(4);
  Bytes all(200'000);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i * 7 + i / 251);
  for (std::size_t step : {1u, 7u, 100u, 2048u, 2049u, 30'000u, 65'536u, 70'000u}) {
    INFO("step " << step);
    link::ChunkQueue q;
    q.retain();
    std::size_t appended = 0, sent = 0, acked = 0;
    Bytes wire;  // everything sent, retransmissions included
    std::size_t rewinds = 0;
    while (acked < all.size()) {
      if (appended < all.size()) {
        std::size_t n = std::min(step, all.size() - appended);
        if (n <= 100) {
          q.append(ByteSpan(all).subspan(appended, n), pool);
        } else {  // an in-place read, of what fits the tail chunk
          MutByteSpan space = q.tail_space(pool);
          n = std::min(n, space.size());
          std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(appended), n, space.begin());
          q.commit(n, pool);
        }
        appended += n;
      }
      REQUIRE(q.size() + q.retained() == appended - acked);
      {
        const std::size_t before = wire.size();
        q.move_to(wire, step * 2, pool);
        const std::size_t moved = wire.size() - before;
        // What goes out is always the next bytes after those sent so far.
        REQUIRE(std::equal(wire.begin() + static_cast<std::ptrdiff_t>(before), wire.end(),
                           all.begin() + static_cast<std::ptrdiff_t>(sent)));
        sent += moved;
      }
      REQUIRE(q.retained() == sent - acked);
      if ((sent / step) % 5 == 3 && rewinds < 20) {  // the link is lost: the peer had `acked`
        q.rewind();
        ++rewinds;
        sent = acked;
        REQUIRE(q.retained() == 0);
        REQUIRE(q.size() == appended - acked);
        continue;
      }
      const std::size_t a = std::min(sent - acked, step + step / 2);
      q.ack(a, pool);
      acked += a;
      REQUIRE(q.retained() == sent - acked);
    }
    CHECK(acked == all.size());
    CHECK(q.size() == 0);
    CHECK(q.retained() == 0);
    CHECK(q.footprint() == 0);  // everything acknowledged: no chunk held
  }
}

TEST_CASE("chunk queue: without retain, sent bytes are freed at once as before", "[chunks][resume]") {
  link::ChunkPool pool(4);
  link::ChunkQueue q;
  q.append(Bytes(100'000, 'x'), pool);
  Bytes out;
  q.move_to(out, 70'000, pool);
  CHECK(q.retained() == 0);
  CHECK(q.size() == 30'000);
  q.ack(10, pool);  // nothing retained: nothing to free
  q.rewind();
  CHECK(q.size() == 30'000);
  q.move_to(out, 30'000, pool);
  CHECK(q.footprint() == 0);
}
