// The agent's clients when the link to the relay changes under them (agent_harness.hpp): the link
// going down before the relay answered, a finished download still being written when the link
// closes, and what the agent keeps running while the link is down.
#include <catch2/catch.hpp>

#include "tests/unit/agent_harness.hpp"
#include "tests/unit/loopback_client.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using namespace std::chrono_literals;
using test::AgentHarness;
using test::AgentOptions;
using test::LoopbackClient;
using test::socks5_connect;
using test::text;

namespace {}  // namespace

TEST_CASE("the link going down before the relay answered gets the error reply docs/spec.md 7 asks for",
          "[agent][link]") {
  AgentHarness agent;
  agent.on_loop([&] { agent.relay().on_open_fn = [](link::StreamId, const Target&) {}; });  // never answers
  LoopbackClient c(agent.port());
  auto open_then_drop_link = [&](const std::string& request) {
    REQUIRE(c.send(request));
    REQUIRE(agent.wait_until([&] { return agent.relay().stream_to("down.test") != 0; }));
    agent.on_loop([&] { agent.relay().close_link(); });
  };
  SECTION("SOCKS5: general failure (0x01)") {
    open_then_drop_link(socks5_connect("down.test", 80));
    REQUIRE(c.read_bytes(4));
    CHECK(c.received().substr(0, 4) == std::string("\x05\x00\x05\x01", 4));
  }
  SECTION("SOCKS4a: rejected (0x5B)") {
    open_then_drop_link(std::string("\x04\x01\x00\x50\x00\x00\x00\x01", 8) + "me" + '\0' + "down.test" +
                        '\0');
    REQUIRE(c.read_bytes(2));
    CHECK(c.received().substr(0, 2) == std::string("\x00\x5B", 2));
  }
  SECTION("HTTP CONNECT: 502 that says so") {
    open_then_drop_link("CONNECT down.test:443 HTTP/1.1\r\nHost: down.test:443\r\n\r\n");
    REQUIRE(c.read_until("went down"));
    CHECK(c.received().rfind("HTTP/1.1 502", 0) == 0);
  }
  SECTION("HTTP: a request after an earlier one on the connection") {
    REQUIRE(c.send(agent.status_request()));
    REQUIRE(c.read_until("a test agent's status page"));
    c.take_received();
    open_then_drop_link("GET http://down.test/ HTTP/1.1\r\nHost: down.test\r\n\r\n");
    REQUIRE(c.read_until("\r\n\r\n"));
    CHECK(c.received().rfind("HTTP/1.1 502", 0) == 0);
    CHECK(c.read_until("the link to the relay went down"));
  }
  SECTION("HTTP: a CONNECT after an earlier request") {
    REQUIRE(c.send(agent.status_request()));
    REQUIRE(c.read_until("a test agent's status page"));
    c.take_received();
    open_then_drop_link("CONNECT down.test:443 HTTP/1.1\r\nHost: down.test:443\r\n\r\n");
    REQUIRE(c.read_until("\r\n\r\n"));
    CHECK(c.received().rfind("HTTP/1.1 502", 0) == 0);
    CHECK(c.read_until("the link to the relay went down"));
  }
}

TEST_CASE("a download the relay finished reaches its slow client whole when the link closes",
          "[agent][link]") {
  // Small socket buffers both sides, so most of the download waits in the agent, not in the kernel.
  AgentHarness agent(AgentOptions{.client_sndbuf = 4096});
  Bytes download(200 * 1024);
  test::pattern(11, 0, download);
  LoopbackClient c(agent.port(), 4096);
  REQUIRE(c.send(socks5_connect("download.test", 80)));
  REQUIRE(c.read_bytes(2 + 10));
  REQUIRE(c.received().substr(0, 4) == std::string("\x05\x00\x05\x00", 4));
  c.take_received();
  link::StreamId id = 0;
  REQUIRE(agent.wait_until([&] { return (id = agent.relay().stream_to("download.test")) != 0; }));

  SECTION("the stream is still open toward the relay (the link's reset reaches it)") {}
  SECTION("both FINs crossed (only the client's writes are left)") {
    c.shutdown_write();
    REQUIRE(agent.wait_until([&] { return agent.relay().streams[id].fin; }));
  }
  agent.on_loop([&] {
    agent.relay().send(id, download);
    agent.relay().finish(id);
  });
  REQUIRE(agent.wait_until([&] { return agent.link().mux()->stats().bytes_received >= download.size(); }));
  agent.on_loop([&] { agent.relay().close_link(); });

  CHECK(c.read_to_end(10s) == LoopbackClient::End::Eof);
  c.shutdown_write();  // the agent's linger ends at this EOF
  CHECK(c.received().size() == download.size());
  const bool intact = c.received() == text(download);
  CHECK(intact);
  CHECK(agent.wait_until([&] { return agent.sessions() == 0; }));
}

TEST_CASE("a download the link cut short is not passed off as complete", "[agent][link]") {
  AgentHarness agent(AgentOptions{.client_sndbuf = 4096});
  LoopbackClient c(agent.port(), 4096);
  REQUIRE(c.send(socks5_connect("cut.test", 80)));
  REQUIRE(c.read_bytes(2 + 10));
  c.take_received();
  link::StreamId id = 0;
  REQUIRE(agent.wait_until([&] { return (id = agent.relay().stream_to("cut.test")) != 0; }));
  Bytes part(100 * 1024);
  test::pattern(12, 0, part);
  agent.on_loop([&] { agent.relay().send(id, part); });  // and no FIN
  REQUIRE(agent.wait_until([&] { return agent.link().mux()->stats().bytes_received >= part.size(); }));
  agent.on_loop([&] { agent.relay().close_link(); });
  CHECK(c.read_to_end(10s) == LoopbackClient::End::Reset);
  CHECK(c.received().size() < part.size());
}

TEST_CASE("with the link down and nobody waiting for it, the agent runs no repeating timer",
          "[agent][link]") {
  AgentHarness agent(AgentOptions{.relay_up = false});
  auto repeating_timers = [&] {
    int n = 0;
    uv_walk(
        agent.loop(),
        [](uv_handle_t* h, void* count) {
          if (h->type == UV_TIMER && uv_is_active(h) &&
              uv_timer_get_repeat(reinterpret_cast<uv_timer_t*>(h)) > 0)
            ++*static_cast<int*>(count);
        },
        &n);
    return n;
  };
  CHECK(agent.on_loop(repeating_timers) == 0);
  // A client that waits for the link still gets its answer when the wait runs out.
  LoopbackClient c(agent.port());
  const auto asked = std::chrono::steady_clock::now();
  REQUIRE(c.send("CONNECT wait.test:443 HTTP/1.1\r\nHost: wait.test:443\r\n\r\n"));
  REQUIRE(c.read_until("relay is unreachable",
                       std::chrono::milliseconds(agent::LinkClient::kOpenWaitMs + 10000)));
  CHECK(c.received().rfind("HTTP/1.1 502", 0) == 0);
  CHECK(std::chrono::steady_clock::now() - asked >=
        std::chrono::milliseconds(agent::LinkClient::kOpenWaitMs - 100));
  CHECK(agent.on_loop(repeating_timers) == 0);
}

// docs/protocol.md 4.12: a link that has used its last stream id takes no new stream. It tells the relay
// (GOAWAY), lets its open streams finish, and closes; the reconnect brings a fresh link for the rest.
TEST_CASE("a link whose stream ids run out moves to a fresh link after its streams finish",
          "[agent][link][ids]") {
  AgentHarness agent(AgentOptions{.first_stream_id = link::kMaxStreamId - 2});
  LoopbackClient a(agent.port()), b(agent.port());
  REQUIRE(a.send(socks5_connect("a.test", 80)));
  REQUIRE(a.read_bytes(2 + 10));
  REQUIRE(b.send(socks5_connect("b.test", 80)));  // the link's last id
  REQUIRE(b.read_bytes(2 + 10));
  CHECK(a.received().substr(2, 2) == std::string("\x05\x00", 2));
  CHECK(b.received().substr(2, 2) == std::string("\x05\x00", 2));
  REQUIRE(
      agent.wait_until([&] { return agent.relay().mux() && agent.relay().mux()->draining(); }));  // GOAWAY

  LoopbackClient c(agent.port());
  REQUIRE(c.send(socks5_connect("c.test", 80)));
  std::this_thread::sleep_for(300ms);  // c waits for a fresh link: nothing reaches the old one
  CHECK(agent.on_loop([&] { return agent.relay().stream_to("c.test"); }) == 0);
  CHECK(agent.on_loop([&] { return agent.relay().links; }) == 1);

  // The old link's streams still work, then end both ways.
  const auto ida = agent.on_loop([&] { return agent.relay().stream_to("a.test"); });
  const auto idb = agent.on_loop([&] { return agent.relay().stream_to("b.test"); });
  REQUIRE(a.send("still here"));
  REQUIRE(agent.wait_until([&] { return text(agent.relay().streams[ida].data) == "still here"; }));
  a.shutdown_write();
  b.shutdown_write();
  agent.on_loop([&] {
    agent.relay().finish(ida);
    agent.relay().finish(idb);
  });
  CHECK(a.read_to_end(5s) == LoopbackClient::End::Eof);
  CHECK(b.read_to_end(5s) == LoopbackClient::End::Eof);

  // The link closed once they had; the reconnect carries c.
  REQUIRE(agent.wait_until([&] { return agent.relay().links == 2 && agent.relay().stream_to("c.test") != 0; },
                           10s));
  REQUIRE(c.read_bytes(2 + 10));
  CHECK(c.received().substr(2, 2) == std::string("\x05\x00", 2));
}
