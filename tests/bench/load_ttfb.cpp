// Scenario f: the time to the first byte of a new connection. Each connection is what a browser's
// first request to a host costs: TCP connect to the proxy, the proxy's handshake, a 100-byte
// request, and the first byte of a 100-byte answer. Cold targets are a new port every time (nothing
// the proxy could have learnt about them); warm ones the same host:port again, after one connection
// that is not counted.
#include <cstdio>
#include <string>
#include <vector>

#include "tests/bench/load_client.hpp"
#include "tests/bench/load_common.hpp"

namespace ferry::bench {
namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The binary request (header + 76 bytes of the pattern) through SOCKS5, HTTP CONNECT or no proxy.
// Returns the error, and in `ttfb` the time from the start of connect to the first reply byte.
std::string tunnelled(const ClientOptions& o, const Pattern& pattern, Clock::duration& ttfb) {
  const auto t0 = Clock::now();
  Dialed d = dial(o);
  if (!d.error.empty()) return d.error;
  auto request = encode_header(Header{Op::Request, kRequestBodyBytes, o.seed});
  request.insert(request.end(), pattern.at(0), pattern.at(0) + kRequestBodyBytes);
  if (auto e = send_all(d.fd.get(), request.data(), request.size()); !e.empty()) return "request: " + e;
  std::uint8_t reply[kReplyBytes];
  if (auto e = recv_exact(d.fd.get(), reply, 1); !e.empty()) return "reply: " + e;
  ttfb = Clock::now() - t0;
  if (auto e = recv_exact(d.fd.get(), reply + 1, kReplyBytes - 1); !e.empty()) return "reply: " + e;
  if (std::memcmp(reply, pattern.at(0), kReplyBytes) != 0) return "integrity: wrong reply";
  return {};
}

// An absolute-form GET to the HTTP proxy: the request line names the target, and the proxy forwards
// the request without a handshake of its own. The answer must be a 200 with a 100-byte body.
std::string absolute_form(const ClientOptions& o, const Pattern& body, Clock::duration& ttfb) {
  const auto t0 = Clock::now();
  ClientOptions to_proxy = o;
  to_proxy.proxy = Proxy{};
  to_proxy.target = o.proxy.addr;
  Dialed d = dial(to_proxy);
  if (!d.error.empty()) return d.error;
  const std::string authority = (o.target_name.empty() ? format_ip(o.target) : o.target_name) + ":" +
                                std::to_string(ntohs(o.target.sin_port));
  std::string request = "GET http://" + authority + "/ HTTP/1.1\r\nHost: " + authority + "\r\n";
  // Padded to the same 100 bytes as the binary request.
  const std::size_t fixed = request.size() + std::string("X-Pad: \r\n\r\n").size();
  request += "X-Pad: " + std::string(fixed < 100 ? 100 - fixed : 1, 'p') + "\r\n\r\n";
  if (auto e = send_all(d.fd.get(), request.data(), request.size()); !e.empty()) return "request: " + e;

  std::string answer;
  char buf[4096];
  std::size_t head_end = std::string::npos;
  std::size_t want = 0;
  for (;;) {
    if (answer.size() > kMaxHttpHeadBytes + kReplyBytes) return "answer too long";
    const ssize_t n = ::recv(d.fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_text("answer");
    if (n == 0) return "answer: closed after " + std::to_string(answer.size()) + " bytes";
    if (answer.empty()) ttfb = Clock::now() - t0;
    answer.append(buf, static_cast<std::size_t>(n));
    if (head_end == std::string::npos) {
      head_end = answer.find("\r\n\r\n");
      if (head_end == std::string::npos) continue;
      head_end += 4;
      if (answer.compare(0, 9, "HTTP/1.1 ") != 0 || answer.compare(9, 3, "200") != 0)
        return "answer: " + answer.substr(0, answer.find("\r\n"));
      const auto cl = answer.find("\r\nContent-Length: ");
      if (cl == std::string::npos || cl > head_end) return "answer: no Content-Length";
      want = std::strtoull(answer.c_str() + cl + 18, nullptr, 10);
      if (want != kReplyBytes) return "answer: Content-Length " + std::to_string(want);
    }
    if (answer.size() >= head_end + want) break;
  }
  if (answer.size() != head_end + want) return "answer: bytes after the body";
  if (std::memcmp(answer.data() + head_end, body.at(0), kReplyBytes) != 0) return "integrity: wrong body";
  return {};
}

}  // namespace

int run_ttfb(const ClientOptions& o, int count, bool cold, bool absolute) {
  if (absolute && o.proxy.kind != Proxy::Kind::Http) {
    std::fprintf(stderr, "bench_load ttfb: --absolute needs an http:// proxy\n");
    return 2;
  }
  const Pattern pattern(absolute ? kHttpSeed : o.seed);
  auto one = [&](const ClientOptions& to, Clock::duration& ttfb) {
    return absolute ? absolute_form(to, pattern, ttfb) : tunnelled(to, pattern, ttfb);
  };
  std::vector<double> ttfb_ms;
  std::string first_error;
  int failed = 0;
  const int base_port = ntohs(o.target.sin_port);
  if (!cold) {  // the connection that makes the target warm
    Clock::duration ignored{};
    if (auto e = one(o, ignored); !e.empty()) {
      ++failed;
      first_error = "warm-up: " + e;
    }
  }
  for (int i = 0; i < count && failed < 5; ++i) {  // a broken path fails fast, not `count` times
    ClientOptions to = o;
    if (cold) to.target.sin_port = htons(static_cast<std::uint16_t>(base_port + i));
    Clock::duration ttfb{};
    if (auto e = one(to, ttfb); e.empty()) {
      ttfb_ms.push_back(ms(ttfb));
    } else {
      ++failed;
      if (first_error.empty()) first_error = "connection " + std::to_string(i) + ": " + e;
    }
  }
  std::sort(ttfb_ms.begin(), ttfb_ms.end());
  JsonLine("ttfb")
      .add("cold", cold)
      .add("absolute", absolute)
      .add("count", static_cast<int>(ttfb_ms.size()))
      .add("failed", failed)
      .add("p50_ms", percentile(ttfb_ms, 0.50))
      .add("p99_ms", percentile(ttfb_ms, 0.99))
      .add("min_ms", ttfb_ms.empty() ? 0.0 : ttfb_ms.front())
      .add("max_ms", ttfb_ms.empty() ? 0.0 : ttfb_ms.back())
      .add("ok", failed == 0 && static_cast<int>(ttfb_ms.size()) == count)
      .add("error", first_error)
      .print();
  return failed ? 1 : 0;
}

}  // namespace ferry::bench
