#include "common/codec/http1_rewrite.hpp"

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::http1 {
namespace {

constexpr std::string_view kViaPseudonym = "ferry";

// Fields that describe one connection, never the message (RFC 9110 §7.6.1), plus the client's
// credentials for us, which the origin must never see.
constexpr std::string_view kHopByHop[] = {
    "Connection", "Proxy-Connection", "Proxy-Authorization", "Keep-Alive", "TE", "Trailer", "Upgrade"};
// Connection options that are ignored: removing these would change how the origin frames the body.
constexpr std::string_view kNeverDropped[] = {"Host", "Content-Length", "Transfer-Encoding"};

bool listed(std::string_view name, std::span<const std::string_view> names) {
  for (auto n : names)
    if (iequals(n, name)) return true;
  return false;
}

// Every field name to drop: the fixed hop-by-hop set and each option that Connection names.
std::vector<std::string_view> hop_by_hop(const Headers& headers, bool upgrade) {
  std::vector<std::string_view> drop;
  for (auto n : kHopByHop)
    if (!(upgrade && n == "Upgrade")) drop.push_back(n);
  for (const auto& f : headers) {
    if (!iequals(f.name, "Connection")) continue;
    for (auto option : split_list(f.value)) {
      if (option.empty() || listed(option, kNeverDropped)) continue;
      if (upgrade && iequals(option, "Upgrade")) continue;
      drop.push_back(option);
    }
  }
  return drop;
}

std::string via_entry(Version v) { return std::string(version_text(v)) + " " + std::string(kViaPseudonym); }

// The fields that stay, with Host, Content-Length and Via rewritten in place.
void put_end_to_end(Bytes& out, const RequestHead& head, const RequestTarget& target, bool upgrade) {
  const auto drop = hop_by_hop(head.headers, upgrade);
  const Header* last_via = nullptr;
  for (const auto& f : head.headers)
    if (iequals(f.name, "Via") && !listed(f.name, drop)) last_via = &f;  // "Connection: Via" drops them all
  bool length_sent = false;
  for (const auto& f : head.headers) {
    if (listed(f.name, drop)) continue;
    if (iequals(f.name, "Host")) {
      put_field(out, f.name, target.authority);
    } else if (iequals(f.name, "Content-Length")) {
      if (!std::exchange(length_sent, true)) put_field(out, f.name, split_list(f.value).front());
    } else if (&f == last_via) {
      put_field(out, f.name, f.value + ", " + via_entry(head.version));
    } else {
      put_field(out, f.name, f.value);
    }
  }
  if (!last_via) put_field(out, "Via", via_entry(head.version));
}

}  // namespace

bool client_keep_alive(const RequestHead& head) {
  if (has_token(head.headers, "Connection", "close")) return false;
  return head.version == Version::Http11 || has_token(head.headers, "Connection", "keep-alive");
}

bool wants_upgrade(const RequestHead& head) {
  return head.version == Version::Http11 && find_header(head.headers, "Upgrade") != nullptr &&
         has_token(head.headers, "Connection", "upgrade");
}

ForwardHead rewrite_request(const RequestHead& head, const RequestTarget& target, bool upgrade) {
  ForwardHead fwd;
  fwd.keep_alive = client_keep_alive(head);
  Bytes& out = fwd.bytes;
  put(out, head.method);
  put(out, " ");
  put(out, target.origin_form);
  put(out, " HTTP/");
  put(out, version_text(head.version));
  put(out, "\r\n");
  if (!find_header(head.headers, "Host")) put_field(out, "Host", target.authority);
  put_end_to_end(out, head, target, upgrade);
  if (upgrade) {
    put_field(out, "Connection", "upgrade");
  } else if (!fwd.keep_alive && head.version == Version::Http11) {
    put_field(out, "Connection", "close");
  } else if (fwd.keep_alive && head.version == Version::Http10) {
    put_field(out, "Connection", "keep-alive");
  }
  put(out, "\r\n");
  return fwd;
}

Bytes rewrite_response(const ResponseHead& head, bool client_keep_alive) {
  const bool upgrade = head.line.status == 101;
  const auto drop = hop_by_hop(head.headers, upgrade);
  Bytes out;
  put(out, "HTTP/");
  put(out, version_text(head.line.version));
  put(out, " ");
  put(out, std::to_string(head.line.status));
  put(out, " ");
  put(out, head.line.reason);
  put(out, "\r\n");
  const Header* last_via = nullptr;
  for (const auto& f : head.headers)
    if (iequals(f.name, "Via") && !listed(f.name, drop)) last_via = &f;
  for (const auto& f : head.headers) {
    if (listed(f.name, drop)) continue;
    if (&f == last_via)
      put_field(out, f.name, f.value + ", " + via_entry(head.line.version));
    else
      put_field(out, f.name, f.value);
  }
  if (!last_via) put_field(out, "Via", via_entry(head.line.version));
  if (upgrade)
    put_field(out, "Connection", "upgrade");
  else if (!client_keep_alive)
    put_field(out, "Connection", "close");
  put(out, "\r\n");
  return out;
}

}  // namespace ferry::http1
