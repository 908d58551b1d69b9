#include "agent/pac_file.hpp"

#include <cstdio>

namespace ferry::agent {
namespace {

// Route texts are canonical (lower case, [a-z0-9._-] and address digits), so they need no escaping
// inside a JavaScript string; anything else is dropped rather than trusted.
bool plain(const std::string& s) {
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' || c == ':'))
      return false;
  return !s.empty();
}

std::string hex(const std::array<std::uint8_t, 16>& bytes) {
  std::string out;
  char b[3];
  for (std::uint8_t v : bytes) {
    std::snprintf(b, sizeof b, "%02x", v);
    out += b;
  }
  return out;
}

// The matching functions, in the ES5 that every PAC engine runs. Addresses are numbers (IPv4) or
// 32 hex digits (IPv6).
constexpr const char* kFunctions = R"js(
function ferryV4(h) {
  var m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (!m) return -1;
  var n = 0;
  for (var i = 1; i <= 4; i++) {
    var p = parseInt(m[i], 10);
    if (p > 255 || (m[i].length > 1 && m[i].charAt(0) == "0")) return -1;
    n = n * 256 + p;
  }
  return n;
}
function ferryV6(h) {
  if (h.indexOf(":") < 0 || !/^[0-9a-f:.]+$/.test(h)) return null;
  var m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (m) {
    var n = ferryV4(m[2]);
    if (n < 0) return null;
    h = m[1] + Math.floor(n / 65536).toString(16) + ":" + (n % 65536).toString(16);
  }
  var halves = h.split("::");
  if (halves.length > 2) return null;
  var head = halves[0] ? halves[0].split(":") : [];
  var tail = halves.length == 2 && halves[1] ? halves[1].split(":") : [];
  var missing = 8 - head.length - tail.length;
  if (halves.length == 1 ? missing != 0 : missing < 1) return null;
  var groups = head.slice(0);
  for (var z = 0; halves.length == 2 && z < missing; z++) groups.push("0");
  groups = groups.concat(tail);
  var out = "";
  for (var g = 0; g < groups.length; g++) {
    if (!/^[0-9a-f]{1,4}$/.test(groups[g])) return null;
    out += ("0000" + groups[g]).slice(-4);
  }
  return out;
}
function ferryIn6(a, net, len) {
  var whole = Math.floor(len / 4);
  if (a.slice(0, whole) != net.slice(0, whole)) return false;
  if (len % 4 == 0) return true;
  var mask = (0xf << (4 - len % 4)) & 0xf;
  return (parseInt(a.charAt(whole), 16) & mask) == (parseInt(net.charAt(whole), 16) & mask);
}
function FindProxyForURL(url, host) {
  host = host.toLowerCase();
  if (host.charAt(0) == "[") host = host.slice(1, -1);
  if (host.charAt(host.length - 1) == ".") host = host.slice(0, -1);
  var i;
  for (i = 0; i < FERRY_NAMES.length; i++)
    if (shExpMatch(host, FERRY_NAMES[i])) return FERRY_PROXY;
  for (i = 0; i < FERRY_BELOW.length; i++)
    if (dnsDomainIs(host, FERRY_BELOW[i]) && host.length > FERRY_BELOW[i].length) return FERRY_PROXY;
  var a4 = ferryV4(host);
  if (a4 >= 0) {
    for (i = 0; i < FERRY_NETS4.length; i++) {
      var size = Math.pow(2, 32 - FERRY_NETS4[i][1]);
      if (Math.floor(a4 / size) == Math.floor(FERRY_NETS4[i][0] / size)) return FERRY_PROXY;
    }
    return "DIRECT";
  }
  var a6 = ferryV6(host);
  if (a6 && a6.slice(0, 24) == "00000000000000000000ffff") {  // IPv4-mapped: the IPv4 networks
    var mapped = parseInt(a6.slice(24), 16);
    for (i = 0; i < FERRY_NETS4.length; i++) {
      var span = Math.pow(2, 32 - FERRY_NETS4[i][1]);
      if (Math.floor(mapped / span) == Math.floor(FERRY_NETS4[i][0] / span)) return FERRY_PROXY;
    }
  }
  if (a6) {
    for (i = 0; i < FERRY_NETS6.length; i++)
      if (ferryIn6(a6, FERRY_NETS6[i][0], FERRY_NETS6[i][1])) return FERRY_PROXY;
  }
  return "DIRECT";
}
)js";

}  // namespace

std::string pac_proxy(const std::string& http_hostport, const std::string& socks_hostport) {
  std::string p;
  if (!http_hostport.empty()) p = "PROXY " + http_hostport;
  if (!socks_hostport.empty()) p += std::string(p.empty() ? "" : "; ") + "SOCKS5 " + socks_hostport;
  return p;
}

std::string pac_file(const std::vector<routes::Route>& routes, const std::string& proxy,
                     std::uint32_t version) {
  using Kind = policy::Pattern::Kind;
  std::string names, below, nets4, nets6;
  const auto add = [](std::string& list, const std::string& item) {
    list += (list.empty() ? "" : ", ") + item;
  };
  for (const routes::Route& r : routes) {
    const policy::Pattern& p = r.pattern;
    if (p.kind == Kind::Host && plain(p.name)) add(names, "\"" + p.name + "\"");
    if (p.kind == Kind::Suffix && plain(p.name)) add(below, "\"." + p.name + "\"");
    if (p.kind == Kind::Address || p.kind == Kind::Cidr) {
      const policy::Address& a = p.block.base;
      const unsigned prefix = p.kind == Kind::Address ? a.bit_count() : p.block.prefix;
      if (a.is_v4()) {
        const std::uint32_t n = (std::uint32_t{a.bytes[0]} << 24) | (std::uint32_t{a.bytes[1]} << 16) |
                                (std::uint32_t{a.bytes[2]} << 8) | a.bytes[3];
        add(nets4, "[" + std::to_string(n) + ", " + std::to_string(prefix) + "]");
      } else {
        add(nets6, "[\"" + hex(a.bytes) + "\", " + std::to_string(prefix) + "]");
      }
    }
  }
  char v[16];
  std::snprintf(v, sizeof v, "%08x", version);
  std::string pac = "// ferry-agent's proxy auto-config: the office's routes (version " + std::string(v) +
                    ") and this agent's own.\n"
                    "// Listed targets go through ferry with no DIRECT fallback (fail closed); the rest go "
                    "DIRECT.\n"
                    "// Networks match IP literals only: nothing here resolves a name.\n";
  pac += "var FERRY_PROXY = \"" + proxy + "\";\n";
  pac += "var FERRY_NAMES = [" + names + "];\n";
  pac += "var FERRY_BELOW = [" + below + "];\n";
  pac += "var FERRY_NETS4 = [" + nets4 + "];\n";
  pac += "var FERRY_NETS6 = [" + nets6 + "];\n";
  pac += kFunctions;
  return pac;
}

}  // namespace ferry::agent
