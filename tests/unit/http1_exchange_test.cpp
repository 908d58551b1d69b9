// http1::Exchange with byte vectors: client and origin bytes in, actions out, no loop. Each test
// plays the owner (agent/http_forwarder) by hand: it answers Open, reports writes, and reads what
// the client and the origin were sent.
#include "common/codec/http1_exchange.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/codec/http1_auth.hpp"
#include "tests/unit/split_util.hpp"

using namespace ferry;
using http1::Action;
using http1::ActionKind;
using http1::ClientState;
using http1::Exchange;
using http1::OriginState;
using http1::ResponseState;
using test::as_bytes;

namespace {

std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::size_t count(const std::string& haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// What one input made the exchange do.
struct Run {
  std::vector<Action> actions;

  std::string to_client() const {  // ToClient and Reply, in order
    std::string s;
    for (const auto& a : actions)
      if (a.kind == ActionKind::ToClient || a.kind == ActionKind::Reply) s += text(a.bytes);
    return s;
  }
  std::string to_origin() const {
    std::string s;
    for (const auto& a : actions)
      if (a.kind == ActionKind::ToOrigin) s += text(a.bytes);
    return s;
  }
  std::size_t credit() const {
    std::size_t n = 0;
    for (const auto& a : actions)
      if (a.kind == ActionKind::ToClient || a.kind == ActionKind::Credit) n += a.credit;
    return n;
  }
  std::size_t count(ActionKind k) const {
    return static_cast<std::size_t>(
        std::count_if(actions.begin(), actions.end(), [k](const Action& a) { return a.kind == k; }));
  }
  const Action* first(ActionKind k) const {
    for (const auto& a : actions)
      if (a.kind == k) return &a;
    return nullptr;
  }
  int reply_status() const {
    const Action* a = first(ActionKind::Reply);
    return a ? a->status : 0;
  }
  std::string kinds() const {  // "open to-origin", for readable checks of order
    std::string s;
    for (const auto& a : actions) {
      if (a.kind == ActionKind::Log) continue;
      s += (s.empty() ? "" : " ") + std::string(http1::name(a.kind));
    }
    return s;
  }
  std::string logs() const {
    std::string s;
    for (const auto& a : actions)
      if (a.kind == ActionKind::Log) s += a.text + "\n";
    return s;
  }
  Run& operator+=(Run&& other) {
    for (auto& a : other.actions) actions.push_back(std::move(a));
    return *this;
  }
};

constexpr std::string_view kCredentials = "bWU6c2VjcmV0";  // base64("me:secret")

http1::ExchangeRules rules(bool auth = false) {
  http1::ExchangeRules r;
  r.host_is_local = [](std::string_view host) {
    return host == "127.0.0.1:3128" || host == "localhost:3128";
  };
  r.local_host_hint = "127.0.0.1:3128 or localhost:3128";
  r.status_json = [] { return std::string("{\"agent\":\"running\"}"); };
  if (auth)
    r.authorised = [](const http1::RequestHead& head) {
      auto c = http1::proxy_credentials(head);
      return c && *c && (*c)->user == "me" && (*c)->pass == "secret";
    };
  return r;
}

// The owner, played by hand. A client that reads at once is the default: each ToClient is reported
// written as soon as it is taken, as the forwarder's write callback would.
struct Fixture {
  explicit Fixture(http1::ExchangeRules r = rules()) : ex(std::move(r)) {}

  Run take() {
    Run r;
    while (auto a = ex.next_action()) {
      const bool write = a->kind == ActionKind::ToClient && client_reads;
      const std::size_t n = a->bytes.size();
      r.actions.push_back(std::move(*a));
      if (write) ex.on_client_written(n);  // may start pipelined requests: their actions follow
    }
    return r;
  }
  Run client(std::string_view s) {
    ex.on_client_bytes(as_bytes(s));
    return take();
  }
  Run client_eof() {
    ex.on_client_eof();
    return take();
  }
  Run origin(std::string_view s) {
    ex.on_origin_bytes(as_bytes(s));
    return take();
  }
  Run open() {
    ex.on_origin_open();
    return take();
  }
  Run fin() {
    ex.on_origin_fin();
    return take();
  }
  Run reset() {
    ex.on_origin_reset();
    return take();
  }

  Exchange ex;
  bool client_reads = true;
};

const std::string kGetA = "GET http://a.test/one HTTP/1.1\r\nHost: a.test\r\n\r\n";
const std::string kGetA2 = "GET http://a.test/two HTTP/1.1\r\nHost: a.test\r\n\r\n";
const std::string kGetB = "GET http://b.test:8080/three HTTP/1.1\r\nHost: b.test:8080\r\n\r\n";
const std::string kOk5 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const std::string kStatus = "GET /status HTTP/1.1\r\nHost: 127.0.0.1:3128\r\n\r\n";

}  // namespace

TEST_CASE("http1 exchange: an absolute-form GET goes out in origin-form, and its answer comes back",
          "[http1_exchange]") {
  Fixture f;
  auto r = f.client(kGetA);
  CHECK(r.kinds() == "open");
  REQUIRE(r.first(ActionKind::Open));
  CHECK(r.first(ActionKind::Open)->target == Target::host("a.test", 80));
  CHECK(f.ex.client_state() == ClientState::Waiting);  // no body: the request is whole
  CHECK(f.ex.origin_state() == OriginState::Opening);
  CHECK(f.ex.waiting_origin_bytes() > 0);  // the head waits for the stream

  r = f.open();
  CHECK(r.kinds() == "to-origin");
  const std::string sent = r.to_origin();
  CHECK(sent.rfind("GET /one HTTP/1.1\r\nHost: a.test\r\n", 0) == 0);
  CHECK(sent.find("Via: 1.1 ferry\r\n") != std::string::npos);
  CHECK(sent.ends_with("\r\n\r\n"));

  r = f.origin(kOk5);
  CHECK(r.kinds() == "to-client to-client");
  CHECK(r.to_client().rfind("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nVia: 1.1 ferry\r\n\r\nhello", 0) == 0);
  CHECK(r.credit() == kOk5.size());  // every origin byte is given back once written
  CHECK(f.ex.client_state() == ClientState::Head);
  CHECK(f.ex.origin_state() == OriginState::Open);  // kept for the next request
  CHECK(f.ex.describe() == "client=head response=none origin=open");
}

TEST_CASE("http1 exchange: keep-alive reuses the stream for the same origin and opens another for a new one",
          "[http1_exchange]") {
  Fixture f;
  f.client(kGetA);
  f.open();
  f.origin(kOk5);

  auto r = f.client(kGetA2);  // same origin: the kept stream, at once
  CHECK(r.kinds() == "to-origin");
  CHECK(r.to_origin().rfind("GET /two HTTP/1.1\r\n", 0) == 0);
  f.origin(kOk5);

  r = f.client(kGetB);  // another origin: let go of a.test, open b.test
  CHECK(r.kinds() == "release open");
  CHECK(r.first(ActionKind::Open)->target == Target::host("b.test", 8080));
  r = f.open();
  CHECK(r.to_origin().rfind("GET /three HTTP/1.1\r\nHost: b.test:8080\r\n", 0) == 0);
}

TEST_CASE("http1 exchange: pipelined requests in one read are answered one after another, across origins",
          "[http1_exchange]") {
  Fixture f;
  auto r = f.client(kGetA + kGetA2 + kGetB);
  CHECK(r.kinds() == "open");  // one exchange at a time
  r = f.open();
  CHECK(r.to_origin().find("/two") == std::string::npos);
  CHECK(r.to_origin().find("/one") != std::string::npos);
  CHECK(f.ex.inbox_bytes() == kGetA2.size() + kGetB.size());

  r = f.origin(kOk5);  // the first answer out, the second request in, on the same stream
  CHECK(r.kinds() == "to-client to-client to-origin");
  CHECK(r.to_origin().rfind("GET /two HTTP/1.1\r\n", 0) == 0);

  r = f.origin("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
  CHECK(r.kinds() == "to-client to-client release open");
  CHECK(r.to_client().ends_with("two"));
  r = f.open();
  CHECK(r.to_origin().rfind("GET /three HTTP/1.1\r\n", 0) == 0);
  r = f.origin("HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(r.to_client().rfind("HTTP/1.1 204 No Content\r\n", 0) == 0);
  CHECK(f.ex.inbox_bytes() == 0);
  CHECK(f.ex.client_state() == ClientState::Head);

  // The client's FIN after the last answer ends the connection.
  r = f.client_eof();
  CHECK(r.kinds() == "release close-client");
}

TEST_CASE("http1 exchange: pipelined requests are answered before the client's FIN closes",
          "[http1_exchange]") {
  Fixture f;
  f.client(kGetA + kGetA2);
  f.open();
  auto r = f.client_eof();  // the answers may still come
  CHECK(r.actions.empty());
  r = f.origin(kOk5);
  CHECK(r.to_origin().find("/two") != std::string::npos);
  r = f.origin(kOk5);
  CHECK(r.count(ActionKind::ToClient) == 2);
  CHECK(r.kinds().ends_with("close-client"));
  CHECK(f.ex.closed());
}

TEST_CASE("http1 exchange: a request split at every byte gives the origin the same bytes",
          "[http1_exchange]") {
  const std::string wire =
      "POST http://a.test/up?x=1 HTTP/1.1\r\nHost: a.test\r\nProxy-Connection: keep-alive\r\n"
      "Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n" +
      kGetA2;
  std::string whole;
  {
    Fixture f;
    f.client(wire);
    whole = f.open().to_origin();
    CHECK(whole.ends_with("0\r\nTrailer: t\r\n\r\n"));  // the body, and not the next request
    CHECK(f.ex.client_state() == ClientState::Waiting);
    CHECK(f.ex.inbox_bytes() == kGetA2.size());
  }
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    INFO("cut at " << cut);
    Fixture f;
    Run r = f.client(std::string_view(wire).substr(0, cut));
    r += f.client(std::string_view(wire).substr(cut));
    CHECK(r.count(ActionKind::Open) == 1);
    CHECK(r.count(ActionKind::Reply) == 0);
    CHECK(f.open().to_origin() == whole);
    CHECK(f.ex.inbox_bytes() == kGetA2.size());
  }
  // And one byte at a time.
  Fixture f;
  for (char c : wire) f.client(std::string_view(&c, 1));
  CHECK(f.open().to_origin() == whole);
}

TEST_CASE("http1 exchange: a response split at every byte gives the client the same bytes and all credit",
          "[http1_exchange]") {
  const std::string response =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n";
  auto start = [](Fixture& f) {
    f.client(kGetA + kGetA2);
    f.open();
  };
  std::string whole;
  {
    Fixture f;
    start(f);
    auto r = f.origin(response);
    whole = r.to_client();
    CHECK(count(whole, "HTTP/1.1 ") == 2);
    CHECK(r.credit() == response.size());
  }
  for (std::size_t cut = 0; cut <= response.size(); ++cut) {
    INFO("cut at " << cut);
    Fixture f;
    start(f);
    Run r = f.origin(std::string_view(response).substr(0, cut));
    r += f.origin(std::string_view(response).substr(cut));
    std::string got;
    for (const auto& a : r.actions)
      if (a.kind == ActionKind::ToClient) got += text(a.bytes);
    CHECK(got == whole);
    CHECK(r.credit() == response.size());
    CHECK(r.to_origin().rfind("GET /two", 0) == 0);  // then the next request went
  }
}

TEST_CASE(
    "http1 exchange: request bodies by Content-Length and chunked, bytes after them are the next request",
    "[http1_exchange]") {
  Fixture f;
  f.client("PUT http://a.test/f HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\n0123");
  CHECK(f.ex.client_state() == ClientState::Body);
  auto r = f.open();
  CHECK(r.to_origin().ends_with("\r\n\r\n0123"));
  r = f.client("456789" + kGetA2);
  CHECK(r.to_origin() == "456789");
  CHECK(f.ex.client_state() == ClientState::Waiting);
  r = f.origin("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  CHECK(r.to_client().rfind("HTTP/1.1 201 Created\r\n", 0) == 0);
  CHECK(r.to_origin().rfind("GET /two HTTP/1.1\r\n", 0) == 0);

  Fixture g;
  g.client("POST http://a.test/c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n");
  g.open();
  r = g.client("3\r\nabc\r\n");
  CHECK(r.to_origin() == "3\r\nabc\r\n");
  CHECK(g.ex.client_state() == ClientState::Body);
  r = g.client("0\r\n\r\nGET");
  CHECK(r.to_origin() == "0\r\n\r\n");
  CHECK(g.ex.client_state() == ClientState::Waiting);
  CHECK(g.ex.inbox_bytes() == 3);
}

TEST_CASE("http1 exchange: response bodies by Content-Length, chunked and until the origin closes",
          "[http1_exchange]") {
  SECTION("chunked") {
    Fixture f;
    f.client(kGetA);
    f.open();
    auto r = f.origin("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    CHECK(f.ex.response_state() == ResponseState::Body);
    r = f.origin("0\r\n\r\n");
    CHECK(r.to_client() == "0\r\n\r\n");
    CHECK(f.ex.client_state() == ClientState::Head);
    CHECK(f.ex.origin_state() == OriginState::Open);
  }
  SECTION("until close: the origin's FIN ends the body and the connection") {
    Fixture f;
    f.client(kGetA);
    f.open();
    auto r = f.origin("HTTP/1.0 200 OK\r\n\r\nsome");
    CHECK(r.to_client().find("Connection: close\r\n") == std::string::npos);  // the client asked to keep
    r = f.origin(" more");
    CHECK(r.to_client() == " more");
    CHECK(r.credit() == 5);
    r = f.fin();
    CHECK(r.kinds() == "release close-client");
    CHECK(r.count(ActionKind::Reply) == 0);
  }
  SECTION("an origin that will close is not kept") {
    Fixture f;
    f.client(kGetA + kGetA2);
    f.open();
    auto r = f.origin("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    CHECK(r.kinds() == "to-client to-client release open");
  }
  SECTION("bytes after a response confuse the origin: not kept") {
    Fixture f;
    f.client(kGetA + kGetA2);
    f.open();
    auto r = f.origin(kOk5 + "HTTP/1.1 200 OK\r\n");
    CHECK(r.kinds() == "to-client to-client release open");
    CHECK(r.to_client().find("HTTP/1.1 200 OK\r\n", 10) == std::string::npos);
  }
  SECTION("a HEAD response has no body whatever its Content-Length") {
    Fixture f;
    f.client("HEAD http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n");
    f.open();
    auto r = f.origin("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
    CHECK(r.count(ActionKind::ToClient) == 1);
    CHECK(f.ex.client_state() == ClientState::Head);
  }
}

TEST_CASE("http1 exchange: 1xx responses pass through before the final one", "[http1_exchange]") {
  Fixture f;
  f.client(
      "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  f.open();
  auto r = f.origin("HTTP/1.1 100 Continue\r\n\r\n");
  CHECK(r.to_client().rfind("HTTP/1.1 100 Continue\r\n", 0) == 0);
  CHECK(f.ex.response_state() == ResponseState::Head);
  CHECK(f.client("hi").to_origin() == "hi");
  r = f.origin(
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  CHECK(count(r.to_client(), "HTTP/1.1 ") == 2);
  CHECK(r.to_client().ends_with("\r\n\r\nok"));
  CHECK(f.ex.client_state() == ClientState::Head);
}

TEST_CASE("http1 exchange: a request that asks to upgrade becomes a tunnel on 101", "[http1_exchange]") {
  Fixture f;
  f.client(
      "GET http://a.test/chat HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
      "early");
  auto r = f.open();
  CHECK(r.to_origin().find("Upgrade: websocket\r\n") != std::string::npos);
  CHECK(r.to_origin().find("Connection: upgrade\r\n") != std::string::npos);
  CHECK(r.to_origin().find("early") == std::string::npos);  // not before the origin switched

  r = f.origin("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhi");
  CHECK(f.ex.client_state() == ClientState::Tunnel);
  CHECK(r.to_client().rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
  CHECK(r.to_client().ends_with("\r\n\r\nhi"));
  CHECK(r.to_origin() == "early");  // the client's bytes behind the head go on as they are
  CHECK(f.client("ping").to_origin() == "ping");
  r = f.origin("pong");
  CHECK(r.to_client() == "pong");
  CHECK(r.credit() == 4);
  CHECK(f.client_eof().kinds() == "finish-origin client-ended");
  CHECK(f.fin().kinds() == "finish-client");
}

TEST_CASE("http1 exchange: a 101 nobody asked for is a 502, and nothing behind the request is forwarded",
          "[http1_exchange][upgrade]") {
  Fixture f;
  f.client(kGetA +
           "GET http://other.test/secret HTTP/1.1\r\nHost: other.test\r\nProxy-Authorization: Basic " +
           std::string(kCredentials) + "\r\n\r\n");
  auto r = f.open();
  r += f.origin("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  CHECK(r.reply_status() == 502);
  CHECK(r.to_client().rfind("HTTP/1.1 502 Bad Gateway\r\n", 0) == 0);
  CHECK(r.to_client().find("switched protocols without being asked") != std::string::npos);
  CHECK(r.to_client().find("101") == std::string::npos);
  CHECK(r.to_origin().find("other.test") == std::string::npos);
  CHECK(r.to_origin().find("Proxy-Authorization") == std::string::npos);
  CHECK(r.count(ActionKind::Open) == 0);
  CHECK(r.kinds() == "to-origin reply release close-client");
  CHECK(r.logs().find("101 to a request without Upgrade: 502") != std::string::npos);
  CHECK(f.ex.closed());
  // Whatever comes after is ignored.
  r = f.origin("more");
  r += f.client("GET http://c.test/ HTTP/1.1\r\nHost: c.test\r\n\r\n");
  CHECK(r.actions.empty());
}

TEST_CASE("http1 exchange: CONNECT after other requests turns the connection into a tunnel",
          "[http1_exchange]") {
  Fixture f;
  f.client(kGetA + "CONNECT b.test:443 HTTP/1.1\r\nHost: b.test:443\r\n\r\nclient-hello");
  f.open();
  auto r = f.origin(kOk5);
  CHECK(r.kinds() == "to-client to-client release open");
  CHECK(r.first(ActionKind::Open)->target == Target::host("b.test", 443));
  CHECK(f.ex.client_state() == ClientState::Tunnel);
  r = f.client(" and more");  // waits for the stream, behind the early bytes
  CHECK(r.actions.empty());
  r = f.open();
  CHECK(r.kinds() == "reply to-origin");
  CHECK(r.reply_status() == 200);
  CHECK(r.to_client().rfind("HTTP/1.1 200 Connection established\r\n", 0) == 0);
  CHECK(r.to_origin() == "client-hello and more");
  r = f.origin("server-hello");
  CHECK(r.to_client() == "server-hello");
  CHECK(r.credit() == 12);
}

TEST_CASE("http1 exchange: a CONNECT tunnel whose client finished while the stream opened",
          "[http1_exchange]") {
  Fixture f;
  f.client(kStatus + "CONNECT b.test:22 HTTP/1.1\r\nHost: b.test:22\r\n\r\nSSH-2.0-x\r\n");
  auto r = f.client_eof();
  CHECK(r.kinds() == "client-ended");  // the FIN waits for the stream
  r = f.open();
  CHECK(r.kinds() == "reply to-origin finish-origin");
}

TEST_CASE("http1 exchange: a CONNECT refused by the relay gets its status", "[http1_exchange]") {
  Fixture f;
  f.client(kStatus + "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n");
  f.ex.on_origin_refused(frame::OpenCode::Denied, "rule 3",
                         "ferry could not reach db.internal:5432: denied.\n");
  auto r = f.take();
  CHECK(r.reply_status() == 403);
  CHECK(r.kinds() == "reply close-client");  // nothing to release: the open failed
  CHECK(r.logs() == "HTTP db.internal:5432: denied by policy (rule 3)\n");
  CHECK(r.to_client().find("ferry could not reach db.internal:5432") != std::string::npos);
}

TEST_CASE("http1 exchange: an origin that cannot be reached gets the outcome table's status",
          "[http1_exchange]") {
  const std::pair<frame::OpenCode, int> table[] = {
      {frame::OpenCode::Refused, 502}, {frame::OpenCode::NameNotResolved, 502},
      {frame::OpenCode::Timeout, 504}, {frame::OpenCode::Limit, 503},
      {frame::OpenCode::Denied, 403},  {frame::OpenCode::HostUnreachable, 502},
  };
  for (const auto& [code, status] : table) {
    INFO(frame::open_code_name(code));
    Fixture f;
    f.client("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n\r\nbody");
    f.ex.on_origin_refused(code, "", "ferry could not reach a.test:80.\n");
    auto r = f.take();
    CHECK(r.reply_status() == status);
    CHECK(r.to_origin().empty());
    CHECK(f.ex.closed());
  }
}

TEST_CASE("http1 exchange: bodies and answers that end early", "[http1_exchange]") {
  SECTION("the origin closes mid-body: the client sees the connection end, no error page after the head") {
    Fixture f;
    f.client(kGetA);
    f.open();
    f.origin("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n1234");
    auto r = f.fin();
    CHECK(r.kinds() == "release close-client");
  }
  SECTION("the origin closes before its head is whole: 502") {
    Fixture f;
    f.client(kGetA);
    f.open();
    f.origin("HTTP/1.1 200 OK\r\nContent-");
    auto r = f.fin();
    CHECK(r.reply_status() == 502);
    CHECK(r.to_client().find("closed the connection without a complete response") != std::string::npos);
  }
  SECTION("the stream breaks before the answer: 502; after the head: cut") {
    Fixture f;
    f.client(kGetA);
    f.open();
    auto r = f.reset();
    CHECK(r.reply_status() == 502);
    CHECK(r.to_client().find("broke before it answered") != std::string::npos);
    CHECK(r.kinds() == "reply close-client");  // the stream is gone already: nothing to release

    Fixture g;
    g.client(kGetA);
    g.open();
    g.origin("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12");
    CHECK(g.reset().kinds() == "close-client");
  }
  SECTION("the client stops mid-body") {
    Fixture f;
    f.client("PUT http://a.test/f HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\n0123");
    f.open();
    auto r = f.client_eof();
    CHECK(r.kinds() == "release close-client");
    CHECK(r.first(ActionKind::CloseClient)->text == "client=body response=head origin=open");  // for the log
  }
  SECTION("the client stops mid-head: the connection closes without an answer") {
    Fixture f;
    f.client("GET http://a.test/ HTTP/1.1\r\nHost: a.");
    CHECK(f.client_eof().kinds() == "close-client");
  }
  SECTION("a chunked response that goes wrong after its head is cut") {
    Fixture f;
    f.client(kGetA);
    f.open();
    auto r = f.origin("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    CHECK(r.count(ActionKind::Reply) == 0);
    CHECK(r.kinds().ends_with("release close-client"));
  }
  SECTION("an answer that comes before the whole request body ends the connection after it") {
    Fixture f;
    f.client("PUT http://a.test/f HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000\r\n\r\n0123" + kGetA2);
    f.open();
    auto r = f.origin("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
    CHECK(r.kinds() == "to-client release close-client");
  }
}

TEST_CASE("http1 exchange: bad requests get clear errors and nothing after them is read",
          "[http1_exchange]") {
  struct Case {
    std::string request;
    int status;
    std::string_view says;
  };
  const Case cases[] = {
      {"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n folded: header\r\n\r\n", 400,
       "The request is malformed"},
      {"GET http://a.test/ HTTP/1.1\nHost: a.test\n\n", 400, "The request is malformed"},
      {"GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", 400, "not usable by a proxy"},
      {"GET http://user@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", 400, "not usable by a proxy"},
      {"GET http://a.test/" + std::string(9000, 'x') + " HTTP/1.1\r\n\r\n", 414, "malformed"},
      {"GET http://a.test/ HTTP/2.0\r\nHost: a.test\r\n\r\n", 505, "malformed"},
      {"POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       400, "body framing is invalid"},
      {"POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1, 2\r\n\r\n", 400,
       "body framing is invalid"},
  };
  for (const auto& c : cases) {
    INFO(c.request.substr(0, 80));
    Fixture f;
    auto r = f.client(c.request + kGetA2);
    CHECK(r.reply_status() == c.status);
    CHECK(r.to_client().find(c.says) != std::string::npos);
    CHECK(r.kinds() == "reply close-client");
    CHECK(f.ex.closed());
  }
  std::string many = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n";
  for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  Fixture f;
  CHECK(f.client(many + "\r\n").reply_status() == 431);

  SECTION("a malformed chunked request body is a 400 once the head went") {
    Fixture g;
    g.client("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n");
    g.open();
    auto r = g.client("3\r\nabcX\r\n");
    CHECK(r.reply_status() == 400);
    CHECK(r.to_client().find("chunked request body is malformed") != std::string::npos);
    CHECK(r.kinds() == "reply release close-client");  // nothing of a bad chunk goes on
  }
}

TEST_CASE("http1 exchange: a head trickled a byte at a time is decoded only when it may be decided",
          "[http1_exchange]") {
  // A field that never ends: no LF, so only the length limit can decide it (at an 8 KiB step).
  Fixture f;
  const std::string head = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-Long: ";
  for (char c : head) CHECK(f.client(std::string_view(&c, 1)).actions.empty());
  std::size_t fed = head.size();
  Run r;
  while (r.actions.empty() && fed < 64 * 1024) {
    r = f.client("v");
    ++fed;
  }
  CHECK(r.reply_status() == 431);
  CHECK(fed > 32 * 1024);
  CHECK(fed <= 40 * 1024 + 64);
}

TEST_CASE("http1 exchange: bad responses are a 502 before their head reaches the client",
          "[http1_exchange]") {
  const std::string cases[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\n bad: fold\r\n\r\n",
      "SSH-2.0-OpenSSH_9.2\r\n",
      "HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'h'),
  };
  for (const auto& c : cases) {
    INFO(c.substr(0, 60));
    Fixture f;
    f.client(kGetA + kGetA2);
    f.open();
    auto r = f.origin(c);
    CHECK(r.reply_status() == 502);
    CHECK(r.count(ActionKind::ToClient) == 0);
    CHECK(r.to_origin().empty());
    CHECK(f.ex.closed());
  }
}

TEST_CASE("http1 exchange: Proxy-Authorization is checked, and never forwarded", "[http1_exchange][auth]") {
  const std::string with = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nProxy-Authorization: Basic " +
                           std::string(kCredentials) + "\r\n\r\n";
  Fixture f(rules(true));
  f.client(with);
  auto r = f.open();
  CHECK(r.to_origin().find("Proxy-Authorization") == std::string::npos);
  CHECK(r.to_origin().find(kCredentials) == std::string::npos);

  for (const std::string& bad : std::vector<std::string>{
           kGetA,
           "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nProxy-Authorization: Basic "
           "bWU6d3Jvbmc=\r\n\r\n",  // me:wrong
           "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nProxy-Authorization: Bearer x\r\n\r\n"}) {
    INFO(bad);
    Fixture g(rules(true));
    r = g.client(bad + with);
    CHECK(r.reply_status() == 407);
    CHECK(r.to_client().find("Proxy-Authenticate: Basic") != std::string::npos);
    CHECK(r.count(ActionKind::Open) == 0);
    CHECK(r.logs().find("proxy authentication missing or wrong") != std::string::npos);
    CHECK(r.logs().find(kCredentials) == std::string::npos);
  }
  // Each request of a keep-alive connection is checked on its own.
  Fixture h(rules(true));
  h.client(with);
  h.open();
  r = h.origin(kOk5);
  r = h.client(kGetA2);
  CHECK(r.reply_status() == 407);
}

TEST_CASE("http1 exchange: local pages answer only a Host that names this port", "[http1_exchange][host]") {
  SECTION("GET /status, kept alive, then another") {
    Fixture f;
    auto r = f.client(kStatus + kStatus);
    CHECK(r.count(ActionKind::ToClient) == 2);
    CHECK(r.first(ActionKind::ToClient)->status == 200);
    CHECK(r.first(ActionKind::ToClient)->credit == 0);
    CHECK(count(r.to_client(), "{\"agent\":\"running\"}") == 2);
    CHECK(count(r.to_client(), "Connection: keep-alive\r\n") == 2);
    CHECK(f.ex.client_state() == ClientState::Head);
  }
  SECTION("Connection: close closes after the page") {
    Fixture f;
    auto r = f.client("GET /status HTTP/1.1\r\nHost: localhost:3128\r\nConnection: close\r\n\r\n" + kStatus);
    CHECK(r.kinds() == "to-client close-client");
    CHECK(r.to_client().find("Connection: close\r\n") != std::string::npos);
  }
  SECTION("another path is the 404 that explains the port") {
    Fixture f;
    auto r = f.client("GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:3128\r\n\r\n");
    CHECK(r.reply_status() == 404);
    CHECK(r.to_client().find("This is ferry's proxy port") != std::string::npos);
  }
  const std::string refused[] = {
      "GET /status HTTP/1.1\r\nHost: evil.example\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: evil.example:3128\r\n\r\n",
      "GET /status HTTP/1.0\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: evil.example:3128\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: evil.example\r\n\r\n",
  };
  for (const auto& request : refused) {
    INFO(request);
    Fixture f(rules(true));  // 421 before 407: a rebound page gets no password prompt either
    auto r = f.client(request + kStatus);
    CHECK(r.reply_status() == 421);
    CHECK(r.to_client().find("answer only Host 127.0.0.1:3128 or localhost:3128") != std::string::npos);
    CHECK(r.to_client().find("agent") == std::string::npos);  // nothing behind it is answered
    CHECK(r.kinds() == "reply close-client");
    CHECK(r.logs().find(", which is not this port: 421") != std::string::npos);
  }
  SECTION("without a host_is_local rule no Host is local") {
    http1::ExchangeRules r = rules();
    r.host_is_local = nullptr;
    Fixture f(std::move(r));
    CHECK(f.client(kStatus).reply_status() == 421);
  }
  SECTION("with [auth], the local page needs credentials too") {
    Fixture f(rules(true));
    CHECK(f.client(kStatus).reply_status() == 407);
  }
}

TEST_CASE("http1 exchange: draining", "[http1_exchange][drain]") {
  SECTION("new requests get 503; /status still answers, and closes") {
    http1::ExchangeRules r = rules();
    r.draining = true;
    Fixture f(std::move(r));
    auto run = f.client(kStatus + kStatus);
    CHECK(run.kinds() == "to-client close-client");
    CHECK(run.to_client().find("Connection: close\r\n") != std::string::npos);
    http1::ExchangeRules d = rules();
    d.draining = true;
    Fixture g(std::move(d));
    run = g.client(kGetA);
    CHECK(run.reply_status() == 503);
    CHECK(run.to_client().find("Retry-After: 5\r\n") != std::string::npos);
    CHECK(run.logs().find("the agent is stopping") != std::string::npos);
  }
  SECTION("an idle connection closes at once, without a linger") {
    Fixture f;
    f.ex.drain();
    CHECK(f.take().kinds() == "abort-client");
    Fixture g;
    g.client(kGetA);
    g.open();
    g.origin(kOk5);
    g.ex.drain();
    CHECK(g.take().kinds() == "release abort-client");
  }
  SECTION("an idle connection with answers still unwritten closes once they are out") {
    Fixture f;
    f.client_reads = false;
    f.client(kStatus);
    f.ex.drain();
    CHECK(f.take().kinds() == "close-client");
  }
  SECTION("an exchange under way finishes, says Connection: close, and then the connection closes") {
    Fixture f;
    f.client(kGetA + kGetA2);
    f.open();
    f.ex.drain();
    CHECK(f.take().actions.empty());
    auto r = f.origin(kOk5);
    CHECK(r.to_client().find("Connection: close\r\n") != std::string::npos);
    CHECK(r.kinds() == "to-client to-client release close-client");
    CHECK(r.to_origin().empty());
  }
}

TEST_CASE("http1 exchange: an idle kept-alive origin that speaks or closes is let go", "[http1_exchange]") {
  Fixture f;
  f.client(kGetA);
  f.open();
  f.origin(kOk5);
  auto r = f.origin("HTTP/1.1 408 Request Timeout\r\n\r\n");
  CHECK(r.kinds() == "credit release");
  CHECK(r.credit() == 32);
  CHECK(f.ex.origin_state() == OriginState::None);
  r = f.client(kGetA2);
  CHECK(r.kinds() == "open");

  Fixture g;
  g.client(kGetA);
  g.open();
  g.origin(kOk5);
  CHECK(g.fin().kinds() == "release");
  CHECK(g.client(kGetA2).kinds() == "open");
  Fixture h;
  h.client(kGetA);
  h.open();
  h.origin(kOk5);
  CHECK(h.reset().actions.empty());
  CHECK(h.client(kGetA2).kinds() == "open");
}

TEST_CASE("http1 exchange: HTTP/1.0 clients close after each answer unless they ask to keep",
          "[http1_exchange]") {
  Fixture f;
  f.client("GET http://a.test/ HTTP/1.0\r\n\r\n");
  auto r = f.open();
  CHECK(r.to_origin().find("Host: a.test\r\n") != std::string::npos);  // generated from the target
  r = f.origin(kOk5);
  CHECK(r.to_client().find("Connection: close\r\n") != std::string::npos);
  CHECK(r.kinds().ends_with("close-client"));

  Fixture g;
  g.client("GET http://a.test/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  g.open();
  r = g.origin(kOk5);
  CHECK(r.kinds() == "to-client to-client");
}

TEST_CASE("http1 exchange: flow control", "[http1_exchange][flow]") {
  SECTION("pipelined local pages wait while the client leaves kMaxInbox bytes unread") {
    Fixture f;
    f.client_reads = false;
    std::string requests;
    for (int i = 0; i < 4000; ++i) requests += kStatus;
    auto r = f.client(requests);
    const std::size_t first = r.count(ActionKind::ToClient);
    CHECK(first > 0);
    CHECK(first < 4000);
    CHECK(f.ex.unwritten_client_bytes() >= Exchange::kMaxInbox);
    CHECK_FALSE(f.ex.wants_client_bytes());
    std::size_t pages = first;
    for (const auto& a : r.actions) f.ex.on_client_written(a.bytes.size());  // the client reads it all
    while (pages < 4000) {
      r = f.take();
      REQUIRE(r.count(ActionKind::ToClient) > 0);
      pages += r.count(ActionKind::ToClient);
      for (const auto& a : r.actions) f.ex.on_client_written(a.bytes.size());
    }
    CHECK(f.ex.inbox_bytes() == 0);
    CHECK(f.ex.wants_client_bytes());
  }
  SECTION("a full stream stops the client until it is writable") {
    Fixture f;
    f.client("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100000\r\n\r\n");
    f.open();
    CHECK(f.ex.wants_client_bytes());
    f.ex.on_origin_full();
    CHECK(f.ex.origin_state() == OriginState::Full);
    CHECK_FALSE(f.ex.wants_client_bytes());
    f.ex.on_origin_writable();
    CHECK(f.ex.wants_client_bytes());
  }
  SECTION("bytes for a stream still opening and a deep inbox stop the client") {
    Fixture f;
    f.client("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000000\r\n\r\n");
    f.client(std::string(Exchange::kMaxInbox / 2 + 1, 'b'));
    CHECK_FALSE(f.ex.wants_client_bytes());
    f.open();
    CHECK(f.ex.wants_client_bytes());

    Fixture g;
    g.client(kGetA);
    g.client(std::string(Exchange::kMaxInbox / 2 + 1, 'p'));  // pipelined, waiting its turn
    CHECK_FALSE(g.ex.wants_client_bytes());
  }
}

TEST_CASE("http1 exchange: abort lets go of the stream, and a late open answer is released",
          "[http1_exchange]") {
  Fixture f;
  f.client(kGetA);
  f.ex.abort();
  CHECK(f.take().kinds() == "release");  // the open under way is cancelled
  CHECK(f.open().kinds() == "release");
  CHECK(f.client("x").actions.empty());
  f.ex.on_origin_refused(frame::OpenCode::Refused, "", "x");
  CHECK(f.take().actions.empty());
}

TEST_CASE("http1 exchange: state names for logs", "[http1_exchange]") {
  CHECK(std::string(http1::name(ClientState::Waiting)) == "waiting");
  CHECK(std::string(http1::name(ResponseState::Body)) == "body");
  CHECK(std::string(http1::name(OriginState::Full)) == "full");
  CHECK(std::string(http1::name(ActionKind::ToClient)) == "to-client");
  Exchange ex;
  CHECK(ex.describe() == "client=head response=none origin=none");
}

TEST_CASE("http1 exchange: garbage from either side never crashes it", "[http1_exchange]") {
  std::uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245 + 12345; };
  for (int round = 0; round < 300; ++round) {
    Fixture f;
    std::string c = round % 2 ? kGetA : std::string();
    for (int i = 0; i < 64; ++i) c += static_cast<char>(next() >> 16);
    f.client(c);
    f.open();
    std::string o = round % 3 ? "HTTP/1.1 200 OK\r\n" : "";
    for (int i = 0; i < 64; ++i) o += static_cast<char>(next() >> 16);
    f.origin(o);
    f.fin();
    f.client_eof();
    CHECK(f.ex.next_action() == std::nullopt);
  }
}

TEST_CASE("http1 exchange: on a stream that takes early data the request goes before the answer",
          "[http1_exchange][early]") {
  Fixture f;
  auto r = f.client(kGetA);
  CHECK(r.kinds() == "open");
  f.ex.on_origin_takes_early();
  r = f.take();
  CHECK(r.kinds() == "to-origin");
  CHECK(r.to_origin().rfind("GET /one HTTP/1.1\r\n", 0) == 0);
  CHECK(f.ex.waiting_origin_bytes() == 0);
  CHECK(f.ex.origin_state() == OriginState::Opening);
  // The answer comes, then the response, as on any stream.
  r = f.open();
  CHECK(r.kinds().empty());  // nothing was waiting
  r = f.origin(kOk5);
  CHECK(r.to_client().ends_with("hello"));
  CHECK(f.ex.origin_state() == OriginState::Open);
}

TEST_CASE("http1 exchange: a refusal after early data is still an error page", "[http1_exchange][early]") {
  Fixture f;
  f.client("POST http://a.test/form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\n12345");
  f.ex.on_origin_takes_early();
  auto r = f.take();
  CHECK(r.to_origin().ends_with("\r\n\r\n12345"));
  r = f.client("67890");  // the rest of the body goes on too
  CHECK(r.to_origin() == "67890");
  f.ex.on_origin_refused(frame::OpenCode::Denied, "rule 3", "The office's policy does not allow it.\n");
  r = f.take();
  CHECK(r.reply_status() == 403);
  CHECK(f.ex.closed());
}

TEST_CASE("http1 exchange: early data stops reading the client when the stream's queue is full",
          "[http1_exchange][early]") {
  Fixture f;
  f.client("POST http://a.test/up HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000000\r\n\r\n");
  f.ex.on_origin_takes_early();
  f.take();
  CHECK(f.ex.wants_client_bytes());
  f.ex.on_origin_full();
  CHECK_FALSE(f.ex.wants_client_bytes());
  f.open();
  CHECK(f.ex.origin_state() == OriginState::Full);  // still full once answered
  f.ex.on_origin_writable();
  CHECK(f.ex.wants_client_bytes());
}

TEST_CASE("http1 exchange: a CONNECT does not take early data: its 200 waits for the answer",
          "[http1_exchange][early]") {
  Fixture f;
  f.client("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\nhello");
  f.ex.on_origin_takes_early();
  auto r = f.take();
  CHECK(r.kinds().empty());
  CHECK(f.ex.inbox_bytes() == 5);  // "hello" waits for the tunnel
}
