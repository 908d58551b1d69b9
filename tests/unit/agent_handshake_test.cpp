// The agent's client handshakes on a real loop (agent_harness.hpp): the handshake deadline, bytes a
// client sends while its stream opens, and request heads that arrive in pieces.
#include <catch2/catch.hpp>
#include <thread>

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

namespace {

// Sends `bytes` one at a time, `gap` apart, until the agent closes the connection; returns how long
// that took, or nothing if it stayed open for `give_up`.
std::optional<std::chrono::milliseconds> trickle_until_closed(LoopbackClient& c, const std::string& bytes,
                                                              std::chrono::milliseconds gap,
                                                              std::chrono::milliseconds give_up) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  };
  for (std::size_t i = 0; elapsed() < give_up; i = (i + 1) % bytes.size()) {
    if (!c.send(std::string_view(bytes).substr(i, 1), 1s) || c.closed_within(gap)) return elapsed();
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a handshake that trickles in is closed at its deadline, however steadily it trickles",
          "[agent][handshake]") {
  AgentHarness agent(AgentOptions{.handshake_timeout_ms = 400});
  std::string slow;
  SECTION("an HTTP head") {
    slow = "GET http://slow.test/ HTTP/1.1\r\nHost: slow.test\r\nX-Slow: " + std::string(1000, 'a');
  }
  SECTION("a SOCKS5 greeting and request") { slow = socks5_connect(std::string(255, 'a'), 80); }
  LoopbackClient c(agent.port());
  // A byte every 100 ms: an idle timer of 400 ms would never fire.
  // The whole trickle would take over 100 s: closing within a few seconds is the deadline's doing,
  // with room for a busy machine.
  const auto closed_after = trickle_until_closed(c, slow, 100ms, 10s);
  REQUIRE(closed_after);
  CHECK(*closed_after >= 350ms);
  CHECK(*closed_after < 5s);
  CHECK(agent.wait_until([&] { return agent.sessions() == 0; }));
}

TEST_CASE("past the handshake the deadline no longer applies: keep-alive and tunnels stay",
          "[agent][handshake]") {
  AgentHarness agent(AgentOptions{.handshake_timeout_ms = 1000});
  SECTION("an HTTP keep-alive connection idles on its own timer") {
    LoopbackClient c(agent.port());
    REQUIRE(c.send(agent.status_request()));
    REQUIRE(c.read_until("a test agent's status page"));
    std::this_thread::sleep_for(2500ms);  // well past the handshake deadline
    c.take_received();
    REQUIRE(c.send(agent.status_request()));
    CHECK(c.read_until("a test agent's status page"));
  }
  SECTION("a CONNECT tunnel") {
    LoopbackClient c(agent.port());
    REQUIRE(c.send("CONNECT tunnel.test:443 HTTP/1.1\r\nHost: tunnel.test:443\r\n\r\n"));
    REQUIRE(c.read_until("\r\n\r\n"));
    CHECK(c.received().rfind("HTTP/1.1 200", 0) == 0);
    std::this_thread::sleep_for(2500ms);
    REQUIRE(c.send("still here"));
    CHECK(agent.wait_until([&] {
      const auto id = agent.relay().stream_to("tunnel.test");
      return id != 0 && text(agent.relay().streams[id].data) == "still here";
    }));
  }
}

TEST_CASE("bytes a client sends while its stream opens wait for the stream, however many",
          "[agent][opening]") {
  AgentHarness agent;
  agent.on_loop([&] { agent.relay().on_open_fn = [](link::StreamId, const Target&) {}; });  // answer later
  Bytes early(300 * 1024);
  test::pattern(3, 0, early);
  std::string request, reply_prefix;
  SECTION("SOCKS5") {
    request = socks5_connect("early.test", 80);
    reply_prefix = std::string("\x05\x00\x05\x00", 4);
  }
  SECTION("HTTP CONNECT") {
    request = "CONNECT early.test:80 HTTP/1.1\r\nHost: early.test:80\r\n\r\n";
    reply_prefix = "HTTP/1.1 200";
  }
  LoopbackClient c(agent.port());
  // The agent reads no more than it holds while the stream opens, so the sender may have to wait.
  auto sent = std::async(std::launch::async, [&] { return c.send(request + text(early), 10s); });
  link::StreamId id = 0;
  REQUIRE(agent.wait_until([&] { return (id = agent.relay().stream_to("early.test")) != 0; }));
  sent.wait_for(1s);  // the early bytes are at the agent, or in the kernel in front of it
  agent.on_loop([&] { agent.relay().answer(id, frame::OpenCode::Ok); });
  CHECK(sent.get());
  REQUIRE(c.read_until(reply_prefix));
  CHECK(c.received().rfind(reply_prefix, 0) == 0);
  REQUIRE(agent.wait_until([&] { return agent.relay().streams[id].data.size() >= early.size(); }));
  const bool intact = agent.on_loop([&] { return agent.relay().streams[id].data == early; });
  CHECK(intact);
}

TEST_CASE("a request head in pieces: served when whole, refused as soon as it cannot be", "[agent][head]") {
  AgentHarness agent;
  SECTION("a byte at a time") {
    LoopbackClient c(agent.port());
    for (char ch : agent.status_request()) {
      REQUIRE(c.send(std::string_view(&ch, 1)));
      std::this_thread::sleep_for(1ms);
    }
    CHECK(c.read_until("a test agent's status page"));
  }
  SECTION("binary garbage with no line end gets its 400 at once") {
    LoopbackClient c(agent.port());
    REQUIRE(c.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));  // a TLS ClientHello
    REQUIRE(c.read_until("\r\n\r\n", 10s));
    CHECK(c.received().rfind("HTTP/1.1 400", 0) == 0);
  }
  SECTION("a request line past its limit, in pieces with no line end, gets 414") {
    LoopbackClient c(agent.port());
    REQUIRE(c.send("GET http://long.test/"));
    for (int i = 0; i < 20 && c.received().empty(); ++i) {
      c.send(std::string(1024, 'a'));
      c.read_until("\r\n\r\n", 20ms);
    }
    REQUIRE(c.read_until("\r\n\r\n", 10s));
    CHECK(c.received().rfind("HTTP/1.1 414", 0) == 0);
  }
}
