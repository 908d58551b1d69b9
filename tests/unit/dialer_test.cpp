// The relay's Dialer on a real loop: literal addresses, a name with both families (Happy Eyeballs
// moves on from a refused ::1 at once), a refused port, a name that does not resolve, and the policy
// check on every address.
#include "common/net/dialer.hpp"

#include <catch2/catch.hpp>

#include "common/uv/loop.hpp"
#include "common/uv/tcp_listener.hpp"

using namespace ferry;

namespace {

struct Run {
  net::DialResult result;
  bool done = false;
  int loop_close = -1;
};

Run dial(const Target& target, net::AddressCheck check = {}, bool listen = true,
         std::optional<sockaddr_storage> egress = {}) {
  Run run;
  uv::Loop loop;
  {
    int accepted = 0;
    uv::TcpListener listener(loop.get(), [&](uv_stream_t* server) {
      auto* client = new uv_tcp_t;  // closed and freed right away: only the connect matters here
      uv_tcp_init(server->loop, client);
      if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client)) == 0) ++accepted;
      uv_close(reinterpret_cast<uv_handle_t*>(client),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    });
    auto addr = uv::parse_socket_address("127.0.0.1:0");
    REQUIRE(listener.listen(reinterpret_cast<const sockaddr*>(&*addr)));
    Target t = target;
    if (t.port == 0) t.port = static_cast<std::uint16_t>(listener.local_port());
    if (!listen) listener.close();
    uv_tcp_t into;
    uv_tcp_init(loop.get(), &into);
    net::DialOptions options;
    options.connect_timeout_ms = 3000;
    options.egress = egress;
    auto dialer =
        net::Dialer::make(loop.get(), t, options, std::move(check), &into, [&](const net::DialResult& r) {
          run.result = r;
          run.done = true;
          if (listen) listener.close();
        });
    dialer->start();
    loop.run();
    dialer.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&into), nullptr);
    uv_run(loop.get(), UV_RUN_DEFAULT);
    if (run.result.code == frame::OpenCode::Ok) CHECK(accepted == 1);
  }
  run.loop_close = loop.close();
  return run;
}

}  // namespace

TEST_CASE("dialer: an IP literal connects, and the socket is handed over", "[dialer]") {
  auto r = dial(Target::ipv4({127, 0, 0, 1}, 0));
  REQUIRE(r.done);
  CHECK(r.result.code == frame::OpenCode::Ok);
  CHECK(r.result.dialled.rfind("127.0.0.1:", 0) == 0);
  CHECK(r.loop_close == 0);
}

TEST_CASE("dialer: a name with both families connects over the one that answers", "[dialer]") {
  // localhost resolves to ::1 and 127.0.0.1; only 127.0.0.1 listens, so a refused ::1 moves on at once.
  auto r = dial(Target::host("localhost", 0));
  REQUIRE(r.done);
  CHECK(r.result.code == frame::OpenCode::Ok);
  CHECK(r.result.dialled.rfind("127.0.0.1:", 0) == 0);
}

TEST_CASE("dialer: refused, unresolvable and denied targets say why", "[dialer]") {
  auto refused = dial(Target::ipv4({127, 0, 0, 1}, 0), {}, false);
  CHECK(refused.result.code == frame::OpenCode::Refused);
  auto nxdomain = dial(Target::host("no-such-host.invalid", 80));
  CHECK(nxdomain.result.code == frame::OpenCode::NameNotResolved);
  CHECK(nxdomain.result.reason.find("no-such-host.invalid") != std::string::npos);
  int checked = 0;
  auto denied =
      dial(Target::host("localhost", 0), [&](const sockaddr*, bool resolved) -> std::optional<std::string> {
        ++checked;
        CHECK(resolved);
        return std::string("deny loopback (built-in)");
      });
  CHECK(denied.result.code == frame::OpenCode::Denied);
  CHECK(denied.result.reason == "deny loopback (built-in)");
  CHECK(checked >= 1);  // every resolved address was checked
}

TEST_CASE("dialer: abandoned mid-connect, the caller's socket closes cleanly", "[dialer]") {
  // A single address is connected on the caller's socket; the stream may be reset before the connect
  // completes. Closing the socket then cancels the connect, and nothing may be left behind or touched
  // after the Dialer is gone (ASan checks the second part).
  uv::Loop loop;
  uv::TcpListener listener(loop.get(), [](uv_stream_t*) {});
  auto addr = uv::parse_socket_address("127.0.0.1:0");
  REQUIRE(listener.listen(reinterpret_cast<const sockaddr*>(&*addr)));
  uv_tcp_t into;
  uv_tcp_init(loop.get(), &into);
  bool called = false;
  auto dialer = net::Dialer::make(
      loop.get(), Target::ipv4({127, 0, 0, 1}, static_cast<std::uint16_t>(listener.local_port())),
      net::DialOptions{}, net::AddressCheck{}, &into, [&](const net::DialResult&) { called = true; });
  dialer->start();
  dialer.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&into), nullptr);
  listener.close();
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK_FALSE(called);
  CHECK(loop.close() == 0);
}

TEST_CASE("dialer: an address of the other family than egress_bind is unreachable, and says why",
          "[dialer]") {
  auto v4 = uv::parse_socket_address("127.0.0.1:0");
  REQUIRE(v4);
  auto r = dial(Target::ipv6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 9), {}, true, *v4);
  CHECK(r.result.code == frame::OpenCode::NetworkUnreachable);
  CHECK(r.result.reason == "the relay dials only IPv4 (egress_bind)");
  CHECK(r.result.dialled == "[::1]:9");
  // A name with both families dials the egress family only (localhost: ::1 and 127.0.0.1).
  auto named = dial(Target::host("localhost", 0), {}, true, *v4);
  CHECK(named.result.code == frame::OpenCode::Ok);
  CHECK(named.result.dialled.rfind("127.0.0.1:", 0) == 0);
}

TEST_CASE("dialer: a link's name lookups share a bounded number of pool threads", "[dialer]") {
  // Limit 1: of three dials by name, one looks up at a time and the others wait their turn; a waiting
  // dial that is abandoned leaves the queue, and every slot comes back.
  uv::Loop loop;
  auto slots = std::make_shared<net::LookupSlots>(1);
  net::DialOptions options;
  options.lookups = slots;
  uv_tcp_t sockets[3];
  net::Dialer::Ptr dialers[3];
  std::vector<frame::OpenCode> results;
  for (int i = 0; i < 3; ++i) {
    uv_tcp_init(loop.get(), &sockets[i]);
    dialers[i] =
        net::Dialer::make(loop.get(), Target::host("no-such-host.invalid", 80), options, net::AddressCheck{},
                          &sockets[i], [&](const net::DialResult& r) { results.push_back(r.code); });
  }
  for (auto& d : dialers) d->start();
  CHECK(slots->in_use() == 1);
  CHECK(slots->waiting() == 2);
  dialers[2].reset();  // abandoned while waiting
  CHECK(slots->waiting() == 1);
  while (results.size() < 2 && uv_run(loop.get(), UV_RUN_ONCE) != 0) {
  }
  CHECK(results ==
        std::vector<frame::OpenCode>{frame::OpenCode::NameNotResolved, frame::OpenCode::NameNotResolved});
  CHECK(slots->in_use() == 0);
  CHECK(slots->waiting() == 0);
  for (auto& d : dialers) d.reset();
  for (auto& s : sockets) uv_close(reinterpret_cast<uv_handle_t*>(&s), nullptr);
  uv_run(loop.get(), UV_RUN_DEFAULT);
  CHECK(loop.close() == 0);
}
