#include "common/link/chunk_queue.hpp"

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
  CHECK(pool.free_chunks() == 4);  // every chunk went back to the pool
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
