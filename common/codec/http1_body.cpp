#include "common/codec/http1_body.hpp"

#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace ferry::http1 {
namespace {

constexpr std::uint64_t kMaxContentLength = std::numeric_limits<std::int64_t>::max();

std::optional<std::uint64_t> parse_digits(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;  // 19 digits hold every value up to 2^63 - 1
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > kMaxContentLength) return std::nullopt;
  return v;
}

// Every coding of every Transfer-Encoding field, in order (fields combine as one list, RFC 9110 §5.3).
std::vector<std::string_view> transfer_codings(const Headers& headers) {
  std::vector<std::string_view> codings;
  for (const auto& f : headers) {
    if (!iequals(f.name, "Transfer-Encoding")) continue;
    for (auto c : split_list(f.value)) codings.push_back(c);
  }
  return codings;
}

// Checks the TE/CL combination every message shares. Returns whether Transfer-Encoding is present.
Result<bool> check_te_cl(Version version, const Headers& headers) {
  const bool te = find_header(headers, "Transfer-Encoding") != nullptr;
  if (!te) return false;
  if (find_header(headers, "Content-Length"))
    return fail(Errc::Malformed, "http: both Transfer-Encoding and Content-Length");
  if (version == Version::Http10)
    return fail(Errc::Malformed, "http: Transfer-Encoding in an HTTP/1.0 message");
  return true;
}

Result<BodyFraming> length_or(const Headers& headers, BodyKind otherwise) {
  auto cl = content_length(headers);
  if (!cl) return cl.error();
  if (*cl) return BodyFraming{BodyKind::Length, **cl};
  return BodyFraming{otherwise, 0};
}

}  // namespace

Result<std::optional<std::uint64_t>> content_length(const Headers& headers) {
  std::optional<std::string_view> first;
  for (const auto& f : headers) {
    if (!iequals(f.name, "Content-Length")) continue;
    for (auto v : split_list(f.value)) {
      if (!parse_digits(v)) return fail(Errc::Malformed, "http: bad Content-Length");
      if (first && *first != v) return fail(Errc::Malformed, "http: differing Content-Length values");
      first = v;
    }
  }
  if (!first) return std::optional<std::uint64_t>{};
  return parse_digits(*first);
}

Result<BodyFraming> request_body(const RequestHead& head) {
  auto te = check_te_cl(head.version, head.headers);
  if (!te) return te.error();
  if (!*te) return length_or(head.headers, BodyKind::None);
  const auto codings = transfer_codings(head.headers);
  if (codings.size() != 1 || !iequals(codings.front(), "chunked"))
    return fail(Errc::Malformed, "http: request Transfer-Encoding is not exactly chunked");
  return BodyFraming{BodyKind::Chunked, 0};
}

Result<BodyFraming> response_body(std::string_view request_method, const ResponseHead& head) {
  const int status = head.line.status;
  if (status == 101 || (request_method == "CONNECT" && status >= 200 && status < 300))
    return BodyFraming{BodyKind::Tunnel, 0};
  if (request_method == "HEAD" || status < 200 || status == 204 || status == 304)
    return BodyFraming{BodyKind::None, 0};
  auto te = check_te_cl(head.line.version, head.headers);
  if (!te) return te.error();
  if (!*te) return length_or(head.headers, BodyKind::CloseDelimited);
  const auto codings = transfer_codings(head.headers);
  for (auto c : codings)
    if (!is_token(c)) return fail(Errc::Malformed, "http: bad Transfer-Encoding");
  if (iequals(codings.back(), "chunked")) return BodyFraming{BodyKind::Chunked, 0};
  return BodyFraming{BodyKind::CloseDelimited, 0};  // RFC 9112 §6.3 item 4: read until close
}

}  // namespace ferry::http1
