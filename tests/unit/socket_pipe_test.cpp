// TcpConnection and SocketPipe on a real loop against a loopback client: the lingering close after a
// reply, the memory a pipe keeps between link reads, and streams that outlive their client.
#include "common/uv/socket_pipe.hpp"

#include <catch2/catch.hpp>
#include <future>

#include "common/uv/loop.hpp"
#include "common/uv/read_batch.hpp"
#include "common/uv/tcp_listener.hpp"
#include "tests/unit/link_harness.hpp"
#include "tests/unit/loopback_client.hpp"

using namespace ferry;
using namespace std::chrono_literals;
using test::LoopbackClient;

namespace {

// A listener on 127.0.0.1:0 whose first connection is accepted into `pipe`.
struct AcceptInto {
  AcceptInto(uv::Loop& loop, uv::TcpConnection& conn)
      : listener(loop.get(), [&conn, this](uv_stream_t* s) { accepted = conn.accept_from(s) == 0; }) {
    auto addr = uv::parse_socket_address("127.0.0.1:0");
    REQUIRE(listener.listen(reinterpret_cast<const sockaddr*>(&*addr)));
  }
  void wait(uv::Loop& loop) {
    while (!accepted) uv_run(loop.get(), UV_RUN_ONCE);
  }
  uv::TcpListener listener;
  bool accepted = false;
};

}  // namespace

TEST_CASE("a close requested from a write's own callback lingers once: the client reads the reply and EOF",
          "[pipe]") {
  uv::Loop loop;
  {
    bool done = false;
    uv::TcpConnection conn(loop.get(), [&](uv::TcpConnection&) { done = true; });
    AcceptInto server(loop, conn);
    LoopbackClient c(server.listener.local_port());
    server.wait(loop);
    // Bytes the connection never reads: closing with them unread would make the kernel send RST.
    REQUIRE(c.send("a request the server will not read"));
    conn.write_now(Bytes(64 * 1024, 'r'), [&] {
      conn.write_now(Bytes{'b', 'y', 'e'});
      conn.close_after_writes();
    });
    auto end = std::async(std::launch::async, [&] {
      const auto how = c.read_to_end(10s);
      c.shutdown_write();  // which ends the pipe's linger
      return how;
    });
    while (!done) uv_run(loop.get(), UV_RUN_ONCE);  // the linger ends at the client's EOF
    CHECK(end.get() == LoopbackClient::End::Eof);
    CHECK(c.received() == std::string(64 * 1024, 'r') + "bye");
    server.listener.close();
    uv_run(loop.get(), UV_RUN_DEFAULT);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("a pipe keeps only a small gather list after a read batch of tiny DATA frames", "[pipe]") {
  test::Pair link;
  link.start();
  auto id = link.agent->mux().open(Target::host("tiny.test", 80));
  REQUIRE(id);
  link.pump();
  uv::Loop loop;
  {
    bool done = false;
    uv::TcpConnection conn(loop.get(), [&](uv::TcpConnection&) { done = true; });
    uv::SocketPipe pipe(conn, link::StreamRef(link.agent->mux(), 0, *id));
    AcceptInto server(loop, conn);
    LoopbackClient c(server.listener.local_port());
    server.wait(loop);
    Bytes frames(10'000);
    for (std::size_t i = 0; i < frames.size(); ++i) frames[i] = static_cast<std::uint8_t>('a' + i % 26);
    for (std::size_t i = 0; i < frames.size(); ++i) pipe.on_data(ByteSpan(frames).subspan(i, 1));
    uv::read_batch::run(loop.get());  // the end of the link's read: one writev of all 10,000
    CHECK(pipe.gathered_capacity() <= uv::SocketPipe::kKeptGatherEntries);
    CHECK(c.read_bytes(frames.size()));
    CHECK(c.received() == std::string(frames.begin(), frames.end()));
    pipe.abort(frame::ResetCode::Cancel);
    while (!done) uv_run(loop.get(), UV_RUN_ONCE);
    server.listener.close();
    uv_run(loop.get(), UV_RUN_DEFAULT);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("connection states have names for logs", "[socket_pipe]") {
  using P = uv::TcpConnection;
  CHECK(std::string(P::name(P::ReadSide::Raw)) == "raw");
  CHECK(std::string(P::name(P::ReadSide::Piping)) == "piping");
  CHECK(std::string(P::name(P::ReadSide::Discarding)) == "discarding");
  CHECK(std::string(P::name(P::ReadSide::Done)) == "done");
  CHECK(std::string(P::name(P::WriteSide::Open)) == "open");
  CHECK(std::string(P::name(P::WriteSide::ShuttingDown)) == "shutting down");
  CHECK(std::string(P::name(P::WriteSide::Done)) == "done");
  CHECK(std::string(P::name(P::Ending::Open)) == "open");
  CHECK(std::string(P::name(P::Ending::AfterWrites)) == "closing after writes");
  CHECK(std::string(P::name(P::Ending::Lingering)) == "lingering");
  CHECK(std::string(P::name(P::Ending::Closed)) == "closed");
}

TEST_CASE("a stream answered after its client went away is reset, not bound to the closing pipe", "[pipe]") {
  test::Pair link;
  link.start();
  auto id = link.agent->mux().open(Target::host("late.test", 80));
  REQUIRE(id);
  link.pump();
  REQUIRE(link.agent->mux().stream_count() == 1);
  uv::Loop loop;
  {
    bool done = false;
    uv::TcpConnection conn(loop.get(), [&](uv::TcpConnection&) { done = true; });
    uv::SocketPipe pipe(conn);
    AcceptInto server(loop, conn);
    LoopbackClient c(server.listener.local_port());
    server.wait(loop);
    conn.abort(frame::ResetCode::Cancel);  // the client vanished while the relay dialled
    pipe.attach(link::StreamRef(link.agent->mux(), 0, *id));
    CHECK(link.agent->mux().stream_count() == 0);
    link.pump();
    CHECK(link.relay_events.streams[*id].reset == frame::ResetCode::Cancel);
    while (!done) uv_run(loop.get(), UV_RUN_ONCE);
    server.listener.close();
    uv_run(loop.get(), UV_RUN_DEFAULT);
  }
  CHECK(loop.close() == 0);
}
