// SocketPipe on a real loop against a loopback client: the lingering close after a reply.
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
  AcceptInto(uv::Loop& loop, uv::SocketPipe& pipe)
      : listener(loop.get(), [&pipe, this](uv_stream_t* s) {
          accepted = uv_accept(s, reinterpret_cast<uv_stream_t*>(pipe.socket())) == 0;
        }) {
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
    uv::SocketPipe pipe(loop.get(), [&](uv::SocketPipe&) { done = true; });
    AcceptInto server(loop, pipe);
    LoopbackClient c(server.listener.local_port());
    server.wait(loop);
    // Bytes the pipe never reads: closing with them unread would make the kernel send RST.
    REQUIRE(c.send("a request the server will not read"));
    pipe.write_raw(Bytes(64 * 1024, 'r'), [&] {
      pipe.write_raw(Bytes{'b', 'y', 'e'});
      pipe.close_after_writes();
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
