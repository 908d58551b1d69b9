// The agent's HTTP forwarder on a real loop (agent_harness.hpp): keep-alive
// connections whose client falls behind, backpressure from a stream the
// connection has since let go, the close after an error reply, local pages
// that answer only their own Host, and an origin that switches protocols.
#include <catch2/catch.hpp>
#include <future>
#include <memory>

#include "tests/unit/agent_harness.hpp"
#include "tests/unit/loopback_client.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using namespace std::chrono_literals;
using test::AgentHarness;
using test::AgentOptions;
using test::LoopbackClient;

namespace {

std::size_t count(const std::string& haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

std::string chunk(std::size_t data_bytes) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", data_bytes);
  return size + std::string(data_bytes, 'u') + "\r\n";
}

}  // namespace

TEST_CASE(
    "pipelined local pages are all answered, however far the client "
    "falls behind",
    "[agent][http]") {
  AgentHarness agent(AgentOptions{.client_sndbuf = 4096});
  LoopbackClient c(agent.port(), 4096);
  constexpr std::size_t kRequests = 6000;  // far more answers than the 256 KiB the agent lets wait
  std::string requests;
  for (std::size_t i = 0; i < kRequests; ++i) requests += agent.status_request();
  auto sent = std::async(std::launch::async, [&] { return c.send(requests, 20s); });
  sent.wait_for(2s);  // the client reads nothing meanwhile: the agent falls
                      // behind and stops reading
  const bool all = c.read_until(
      [&](const std::string& got) { return count(got, "a test agent's status page") == kRequests; }, 20s);
  CHECK(sent.get());
  CHECK(count(c.received(), "HTTP/1.1 200 OK") == kRequests);
  CHECK(all);
}

TEST_CASE(
    "backpressure from a stream the connection let go does not pause the "
    "client for good",
    "[agent][http]") {
  AgentHarness agent;
  // slow.test takes a request body but never opens its window again; fast.test
  // answers every head.
  auto answered = std::make_shared<std::map<link::StreamId, std::size_t>>();
  agent.on_loop([&] {
    auto& relay = agent.relay();
    relay.on_open_fn = [&relay](link::StreamId id, const Target& t) {
      relay.streams[id].consume = t.name != "slow.test";
      relay.answer(id, frame::OpenCode::Ok);
    };
    relay.on_data_fn = [&relay, answered](link::StreamId id) {
      const auto& s = relay.streams[id];
      if (s.target.name != "fast.test") return;
      const std::size_t heads = count(std::string(s.data.begin(), s.data.end()), "\r\n\r\n");
      for (auto& done = (*answered)[id]; done < heads; ++done)
        relay.send(id, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast");
    };
  });
  LoopbackClient c(agent.port());
  REQUIRE(
      c.send("POST http://slow.test/upload HTTP/1.1\r\nHost: "
             "slow.test\r\nTransfer-Encoding: chunked\r\n\r\n"));
  link::StreamId id = 0;
  std::size_t head = 0;  // the request head as the relay got it
  REQUIRE(agent.wait_until([&] {
    id = agent.relay().stream_to("slow.test");
    const auto& data = agent.relay().streams[id].data;
    const auto end = std::string(data.begin(), data.end()).find("\r\n\r\n");
    head = end == std::string::npos ? 0 : end + 4;
    return id != 0 && head != 0;
  }));
  // Feeds the body a chunk at a time, each forwarded before the next, until the
  // agent's queue for slow.test sits just under the high watermark; then the
  // body's last chunk, with the next request behind it, pushes it over: the
  // agent stops reading with the body sent whole.
  std::size_t body = 0;
  auto queued = [&] { return agent.on_loop([&] { return agent.link().mux()->queued(id); }); };
  auto settled = [&] {
    return agent.wait_until([&] {
      return agent.relay().streams[id].data.size() + agent.link().mux()->queued(id) == head + body;
    });
  };
  const std::size_t high_water = link::MuxLimits{}.send_high_water;
  for (;;) {
    const std::size_t room = high_water - queued();
    if (room < 16 * 1024 + 16) {
      std::size_t data = room - 2 - 4 - 1;  // leaves the queue 2 bytes under the watermark
      while (chunk(data).size() > room - 2) --data;
      REQUIRE(c.send(chunk(data)));
      body += chunk(data).size();
      REQUIRE(settled());
      break;
    }
    REQUIRE(c.send(chunk(8192)));
    body += chunk(8192).size();
    REQUIRE(settled());
  }
  REQUIRE(queued() == high_water - 2);
  REQUIRE(c.send("0\r\n\r\nGET http://fast.test/one HTTP/1.1\r\nHost: fast.test\r\n\r\n"));
  REQUIRE(agent.wait_until([&] { return agent.link().mux()->queued(id) > high_water; }));

  // slow.test answers early (its window still closed); the connection moves on
  // to fast.test.
  agent.on_loop([&] { agent.relay().send(id, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); });
  REQUIRE(c.read_until([](const std::string& got) { return count(got, "fast") == 1; }));
  CHECK(count(c.received(), "HTTP/1.1 200 OK") == 2);
  // The slow stream is gone, and its full queue with it: the next request is
  // read and answered.
  REQUIRE(c.send("GET http://fast.test/two HTTP/1.1\r\nHost: fast.test\r\n\r\n"));
  CHECK(c.read_until([](const std::string& got) { return count(got, "fast") == 2; }, 10s));
}

TEST_CASE(
    "after an error reply the forwarder reads the client to its end "
    "instead of resetting it",
    "[agent][http]") {
  AgentHarness agent;
  LoopbackClient c(agent.port());
  // A keep-alive request, then a malformed one with a large upload behind it
  // that nobody will use.
  const std::string requests =
      agent.status_request() + "POST http://x.test/ HTTP/1.1\r\nHost: x.test\r\n folded: header\r\n\r\n";
  auto sent = std::async(std::launch::async, [&] {
    const bool ok = c.send(requests + std::string(16 << 20, 'j'), 20s);
    c.shutdown_write();
    return ok;
  });
  CHECK(c.read_to_end(20s) == LoopbackClient::End::Eof);
  CHECK(sent.get());  // every byte was taken (and dropped): no RST cut the upload
  const auto page = c.received().find("a test agent's status page");
  const auto refusal = c.received().find("HTTP/1.1 400");
  CHECK(page != std::string::npos);
  CHECK(refusal != std::string::npos);
  CHECK(page < refusal);
}

TEST_CASE("local pages answer a Host that names this port; any other Host gets 421 (DNS rebinding)",
          "[agent][http][host]") {
  AgentHarness agent;
  const std::string port = std::to_string(agent.port());
  for (const std::string& host :
       {"127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port}) {
    INFO(host);
    LoopbackClient c(agent.port());
    REQUIRE(c.send("GET /status HTTP/1.1\r\nHost: " + host + "\r\n\r\n"));
    CHECK(c.read_until("a test agent's status page"));
    CHECK(c.received().rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  }
  // A web page whose name was rebound to 127.0.0.1 sends its own name, with or without the port.
  const std::string refused[] = {
      "GET /status HTTP/1.1\r\nHost: evil.example\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: evil.example:" + port + "\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: 127.0.0.1:" + port + ".evil.example\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: localhost\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(agent.port() ^ 1) + "\r\n\r\n",
      "GET /status HTTP/1.0\r\n\r\n",                               // no Host at all
      "GET / HTTP/1.1\r\nHost: evil.example:" + port + "\r\n\r\n",  // the 404 page is a local page too
      "OPTIONS * HTTP/1.1\r\nHost: evil.example\r\n\r\n",
  };
  for (const auto& request : refused) {
    INFO(request);
    LoopbackClient c(agent.port());
    REQUIRE(c.send(request + agent.status_request()));  // nothing behind the refusal is answered
    CHECK(c.read_to_end() == LoopbackClient::End::Eof);
    CHECK(c.received().rfind("HTTP/1.1 421 Misdirected Request\r\n", 0) == 0);
    CHECK(c.received().find("status page") == std::string::npos);
  }
}

TEST_CASE(
    "an origin that switches protocols unasked: the client gets 502 and nothing behind the request "
    "reaches the origin",
    "[agent][http][upgrade]") {
  AgentHarness agent;
  // switch.test answers 101 to whatever head it gets first, as a hostile or broken origin may.
  auto answered = std::make_shared<bool>(false);
  agent.on_loop([&] {
    auto& relay = agent.relay();
    relay.on_data_fn = [&relay, answered](link::StreamId id) {
      const std::string got = test::text(relay.streams[id].data);
      if (*answered || got.find("\r\n\r\n") == std::string::npos) return;
      *answered = true;
      relay.send(id, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    };
  });
  LoopbackClient c(agent.port());
  SECTION("a plain GET, with a request to another origin pipelined behind it") {
    REQUIRE(
        c.send("GET http://switch.test/ HTTP/1.1\r\nHost: switch.test\r\n\r\n"
               "GET http://other.test/secret HTTP/1.1\r\nHost: other.test\r\nProxy-Authorization: Basic "
               "bWU6czNjcmV0\r\n\r\n"));
    CHECK(c.read_to_end() == LoopbackClient::End::Eof);
    CHECK(c.received().rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
    CHECK(c.received().find("switched protocols without being asked") != std::string::npos);
    CHECK(c.received().find("101") == std::string::npos);
    link::StreamId id = 0;
    REQUIRE(agent.wait_until([&] { return (id = agent.relay().stream_to("switch.test")) != 0; }));
    // The agent lets go of the stream; by then every byte it ever sent there has arrived.
    CHECK(agent.wait_until(
        [&] { return agent.relay().streams[id].reset.has_value() || agent.relay().streams[id].fin; }));
    const std::string sent = agent.on_loop([&] { return test::text(agent.relay().streams[id].data); });
    CHECK(sent.rfind("GET / HTTP/1.1\r\n", 0) == 0);
    CHECK(sent.find("other.test") == std::string::npos);
    CHECK(sent.find("Proxy-Authorization") == std::string::npos);
    CHECK(agent.on_loop([&] { return agent.relay().stream_to("other.test"); }) == 0);
  }
  SECTION("a request that asked to upgrade becomes a tunnel, as before") {
    REQUIRE(
        c.send("GET http://switch.test/chat HTTP/1.1\r\nHost: switch.test\r\nConnection: Upgrade\r\n"
               "Upgrade: websocket\r\n\r\n"));
    REQUIRE(c.read_until("\r\n\r\n"));
    CHECK(c.received().rfind("HTTP/1.1 101", 0) == 0);
    REQUIRE(c.send("ping"));
    link::StreamId id = 0;
    CHECK(agent.wait_until([&] {
      id = agent.relay().stream_to("switch.test");
      const std::string got = test::text(agent.relay().streams[id].data);
      return got.size() >= 4 && got.compare(got.size() - 4, 4, "ping") == 0;
    }));
    agent.on_loop([&] { agent.relay().send(id, "pong"); });
    CHECK(c.read_until("pong"));
  }
}
