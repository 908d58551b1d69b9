// The agent's HTTP forwarder on a real loop (agent_harness.hpp): keep-alive
// connections whose client falls behind, backpressure from a stream the
// connection has since let go, and the close after an error reply.
#include <catch2/catch.hpp>
#include <future>
#include <memory>

#include "tests/unit/agent_harness.hpp"
#include "tests/unit/loopback_client.hpp"

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

}  // namespace

TEST_CASE(
    "pipelined local pages are all answered, however far the client "
    "falls behind",
    "[agent][http]") {
  AgentHarness agent(AgentOptions{.client_sndbuf = 4096});
  LoopbackClient c(agent.port(), 4096);
  constexpr std::size_t kRequests = 6000;  // far more answers than the 256 KiB the agent lets wait
  std::string requests;
  for (std::size_t i = 0; i < kRequests; ++i) requests += "GET /status HTTP/1.1\r\nHost: agent\r\n\r\n";
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
    "after an error reply the forwarder reads the client to its end "
    "instead of resetting it",
    "[agent][http]") {
  AgentHarness agent;
  LoopbackClient c(agent.port());
  // A keep-alive request, then a malformed one with a large upload behind it
  // that nobody will use.
  const std::string requests =
      "GET /status HTTP/1.1\r\nHost: agent\r\n\r\n"
      "POST http://x.test/ HTTP/1.1\r\nHost: x.test\r\n folded: header\r\n\r\n";
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
