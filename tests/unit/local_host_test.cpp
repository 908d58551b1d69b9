// The Host a local page answers (DNS rebinding): the port the client connected to, by a loopback
// name or the listener's own address, and nothing else.
#include "agent/local_host.hpp"

#include <catch2/catch.hpp>

#include "common/uv/loop.hpp"

using namespace ferry;

namespace {

bool names(std::string_view host, const std::string& local) {
  const auto addr = uv::parse_socket_address(local);
  REQUIRE(addr);
  return agent::host_names_listener(host, reinterpret_cast<const sockaddr*>(&*addr));
}

}  // namespace

TEST_CASE("local pages: a Host names the listener by loopback name or its own address, with its port",
          "[agent][host]") {
  for (const char* host : {"127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"}) {
    INFO(host);
    CHECK(names(host, "127.0.0.1:8080"));
    CHECK(names(host, "[::1]:8080"));
  }
  CHECK(names("192.0.2.7:8080", "192.0.2.7:8080"));  // a listener on 0.0.0.0, reached at a real address
  CHECK(names("[2001:DB8::7]:8080", "[2001:db8::7]:8080"));
  CHECK(names("192.0.2.7:8080", "[::ffff:192.0.2.7]:8080"));  // an IPv4 client of a [::] listener
  CHECK(names("[::ffff:192.0.2.7]:8080", "[::ffff:192.0.2.7]:8080"));
}

TEST_CASE("local pages: any other Host is not this listener", "[agent][host]") {
  for (const char* host :
       {"evil.example:8080", "evil.example", "127.0.0.1", "localhost", "127.0.0.1:80", "127.0.0.1:18080",
        "127.0.0.1:8080.evil.example", "localhost.:8080", "127.0.0.2:8080", "192.0.2.8:8080",
        "[::ffff:127.0.0.1]:8080", ":8080", "", "0.0.0.0:8080"}) {
    INFO(host);
    CHECK_FALSE(names(host, "127.0.0.1:8080"));
  }
  CHECK_FALSE(names("[::ffff:192.0.2.7]:8080", "192.0.2.7:8080"));
  // With no known local address, nothing names it: the page is refused rather than served blind.
  sockaddr_storage unknown{};
  CHECK_FALSE(agent::host_names_listener("127.0.0.1:8080", reinterpret_cast<const sockaddr*>(&unknown)));
  CHECK(agent::listener_host_hint(reinterpret_cast<const sockaddr*>(&unknown)) ==
        "127.0.0.1:PORT or localhost:PORT");
  const auto addr = uv::parse_socket_address("127.0.0.1:8080");
  CHECK(agent::listener_host_hint(reinterpret_cast<const sockaddr*>(&*addr)) ==
        "127.0.0.1:8080 or localhost:8080");
}
