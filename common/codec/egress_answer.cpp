#include "common/codec/egress_answer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "common/codec/http1_body.hpp"
#include "common/codec/http1_head.hpp"

namespace ferry::egress {
namespace {

Outcome failed(std::string why) { return Outcome{true, "", std::move(why)}; }

// At most 40 bytes of what the origin sent, printable ASCII only: it reaches a terminal and a log.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 40)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
  return out + (text.size() > 40 ? "...\"" : "\"");
}

std::string_view trimmed(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

Outcome body_outcome(std::string_view body) {
  const std::string_view text = trimmed(body);
  if (text.empty()) return failed("the egress check answered with an empty body, not an IP address");
  if (!is_ip_address(text))
    return failed("the egress check's answer is not an IP address: " + quoted(text) +
                  " (the URL must answer with the caller's address alone)");
  return Outcome{true, std::string(text), ""};
}

// The 16 bytes of an address (IPv4 as ::ffff:a.b.c.d), for comparing spellings.
bool to_bytes(std::string_view text, unsigned char out[16]) {
  if (text.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (::inet_pton(AF_INET6, buf, out) == 1) return true;
  unsigned char v4[4];
  if (::inet_pton(AF_INET, buf, v4) != 1) return false;
  std::memset(out, 0, 10);
  out[10] = out[11] = 0xFF;
  std::memcpy(out + 12, v4, 4);
  return true;
}

}  // namespace

Result<http1::RequestTarget> parse_check_url(std::string_view url) {
  // parse_absolute_form() reads a request line's target, whose bytes the head parser has checked
  // already; a URL from agent.toml has had no such check, and a CR or LF in its path would become a
  // line of the request.
  for (char c : url)
    if (c <= 0x20 || c >= 0x7F) return fail(Errc::Malformed, "a URL has no spaces or control bytes");
  return http1::parse_absolute_form(url);
}

std::string request_for(const http1::RequestTarget& url) {
  return "GET " + url.origin_form + " HTTP/1.0\r\nHost: " + url.authority +
         "\r\nUser-Agent: ferry\r\nAccept: text/plain\r\n\r\n";
}

Outcome decode_answer(ByteSpan in, bool eof) {
  if (in.size() > kMaxAnswer)
    return failed("the egress check's answer is longer than " + std::to_string(kMaxAnswer) +
                  " bytes (it must be the caller's address alone)");
  auto head = http1::decode_response_head(in);
  if (!head) return failed("the egress check's answer is not HTTP (" + describe(head.error()) + ")");
  if (!head->msg) {
    if (eof) return failed("the egress check's origin closed before a complete HTTP answer");
    return {};
  }
  const http1::ResponseHead& h = *head->msg;
  if (h.line.status < 200 || h.line.status > 299)
    return failed("the egress check answered HTTP " + std::to_string(h.line.status) +
                  (h.line.reason.empty() ? "" : " " + quoted(h.line.reason)) + ", not 200");
  auto framing = http1::response_body("GET", h);
  if (!framing)
    return failed("the egress check's answer has bad framing (" + describe(framing.error()) + ")");
  const auto body = std::string_view(reinterpret_cast<const char*>(in.data()), in.size()).substr(head->used);
  switch (framing->kind) {
    case http1::BodyKind::None:
      return body_outcome({});
    case http1::BodyKind::Length:
      if (framing->length > kMaxBody)
        return failed("the egress check's answer has " + std::to_string(framing->length) +
                      " bytes, too long for an IP address");
      if (body.size() < framing->length) {
        if (eof) return failed("the egress check's origin closed before the end of its answer");
        return {};
      }
      return body_outcome(body.substr(0, static_cast<std::size_t>(framing->length)));
    case http1::BodyKind::CloseDelimited:
      if (body.size() > kMaxBody)
        return failed("the egress check's answer is longer than " + std::to_string(kMaxBody) +
                      " bytes, too long for an IP address");
      if (!eof) return {};
      return body_outcome(body);
    case http1::BodyKind::Chunked:
      return failed("the egress check answered an HTTP/1.0 request with a chunked body");
    case http1::BodyKind::Tunnel:
      break;
  }
  return failed("the egress check's answer is not an ordinary response");
}

bool is_ip_address(std::string_view text) {
  unsigned char bytes[16];
  return to_bytes(text, bytes);
}

bool same_address(std::string_view a, std::string_view b) {
  unsigned char x[16], y[16];
  return to_bytes(a, x) && to_bytes(b, y) && std::equal(x, x + 16, y);
}

}  // namespace ferry::egress
