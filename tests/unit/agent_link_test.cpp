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

namespace {

std::string socks5_connect(const std::string& host, std::uint16_t port) {
  std::string s("\x05\x01\x00", 3);  // greeting: no authentication
  s += std::string("\x05\x01\x00\x03", 4) + static_cast<char>(host.size()) + host;
  s += static_cast<char>(port >> 8);
  s += static_cast<char>(port & 0xFF);
  return s;
}

std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace

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
