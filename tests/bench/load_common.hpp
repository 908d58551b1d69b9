// What bench_load's target server and its clients share: the request header, the byte pattern that
// makes every transfer checkable, clocks, percentiles and the JSON lines the orchestrator reads.
//
// Request header, sent by the client once, right after the connection (or the proxy handshake) is
// established. Big-endian, 24 bytes:
//
//    0        4        8                16               24
//    +--------+--------+----------------+----------------+
//    | "FBL1" |   op   |      arg       |      seed      |
//    +--------+--------+----------------+----------------+
//
//   op 1 DOWNLOAD  the server sends `arg` bytes of the pattern of `seed`, then waits for the client's close
//   op 2 UPLOAD    the server reads `arg` bytes, compares them with the pattern, answers 'K' (equal) or 'B'
//   op 3 ECHO      the server echoes every byte until EOF (ping-pong and held connections)
//   op 4 REPLY100  the server sends 100 bytes of the pattern and closes (connection setup)
//   op 5 REQUEST   `arg` more bytes of the pattern of `seed` follow the header; once they are all in
//                  and match, the server sends 100 bytes of the pattern and closes (time to first
//                  byte: the client's request is 24 + 76 = 100 bytes)
//
// A connection that starts with an HTTP method instead ("GET ", "POST ", ...) is answered once its
// request head is complete: "HTTP/1.1 200 OK", Content-Length: 100, and 100 bytes of the pattern of
// kHttpSeed, then closed (absolute-form requests through an HTTP proxy).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ferry::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

enum class Op : std::uint32_t { Download = 1, Upload = 2, Echo = 3, Reply100 = 4, Request = 5 };

constexpr std::uint32_t kMagic = 0x46424C31;  // "FBL1"
constexpr std::size_t kHeaderBytes = 24;
constexpr std::size_t kReplyBytes = 100;
constexpr std::size_t kPingBytes = 64;
// The request of scenario f: the header and this many bytes of the pattern, 100 bytes in all.
constexpr std::size_t kRequestBodyBytes = 100 - 24;
constexpr std::uint64_t kHttpSeed = 0x48545450;  // "HTTP": the body of every HTTP answer
// The longest HTTP request head the server reads before giving up on the connection.
constexpr std::size_t kMaxHttpHeadBytes = 8192;

// Whether `p` (at least 8 bytes seen, or fewer at the end of what arrived) starts like an HTTP
// request line rather than the binary header.
inline bool starts_like_http(const std::uint8_t* p, std::size_t n) {
  static constexpr const char* kMethods[] = {"GET ",    "HEAD ",    "POST ", "PUT ",
                                             "DELETE ", "OPTIONS ", "PATCH "};
  for (const char* m : kMethods) {
    const std::size_t len = std::char_traits<char>::length(m);
    if (std::memcmp(p, m, std::min(n, len)) == 0 && n >= 4) return true;
  }
  return false;
}
// Reads and writes of bulk data are 1 MiB, the size the issue asks for.
constexpr std::size_t kChunkBytes = 1 << 20;

struct Header {
  Op op = Op::Echo;
  std::uint64_t arg = 0;
  std::uint64_t seed = 0;
};

inline void put_be(std::uint8_t* p, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}
inline std::uint64_t get_be(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

inline std::vector<std::uint8_t> encode_header(const Header& h) {
  std::vector<std::uint8_t> out(kHeaderBytes);
  put_be(out.data(), kMagic, 4);
  put_be(out.data() + 4, static_cast<std::uint32_t>(h.op), 4);
  put_be(out.data() + 8, h.arg, 8);
  put_be(out.data() + 16, h.seed, 8);
  return out;
}

// Returns nothing for a header with the wrong magic or an unknown op.
inline std::optional<Header> decode_header(const std::uint8_t* p) {
  if (get_be(p, 4) != kMagic) return std::nullopt;
  const auto op = static_cast<std::uint32_t>(get_be(p + 4, 4));
  if (op < 1 || op > 5) return std::nullopt;
  return Header{static_cast<Op>(op), get_be(p + 8, 8), get_be(p + 16, 8)};
}

// The stream of a transfer is byte `offset % kPeriod` of a splitmix64 sequence from the seed. The
// period is not a power of two and exceeds one chunk, so a dropped, repeated or reordered chunk never
// lines up with the pattern again, and checking a chunk is one memcmp (cheap next to the proxies'
// work: both ends of the benchmark share the machine's two cores with the contender).
class Pattern {
 public:
  static constexpr std::size_t kPeriod = (1 << 20) + 4099;

  explicit Pattern(std::uint64_t seed) : bytes_(2 * kPeriod) {
    std::uint64_t x = seed;
    for (std::size_t i = 0; i < kPeriod; i += 8) {
      x += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      for (int b = 0; b < 8 && i + b < kPeriod; ++b) bytes_[i + b] = static_cast<std::uint8_t>(z >> (8 * b));
    }
    std::copy(bytes_.begin(), bytes_.begin() + kPeriod, bytes_.begin() + kPeriod);
  }
  // At least kPeriod contiguous bytes of the stream start here.
  const std::uint8_t* at(std::uint64_t offset) const { return bytes_.data() + offset % kPeriod; }

 private:
  std::vector<std::uint8_t> bytes_;
};

// Nearest-rank percentile of sorted samples; 0 when there are none.
inline double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// A JSON object written as one line on stdout, the orchestrator's input. Keys are fixed ASCII;
// string values are escaped.
class JsonLine {
 public:
  explicit JsonLine(const char* scenario) { add("scenario", std::string(scenario)); }
  JsonLine& add(const char* key, const std::string& v) {
    std::string esc;
    for (char c : v) {
      if (c == '"' || c == '\\') esc += '\\';
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
      esc += c;
    }
    return raw(key, "\"" + esc + "\"");
  }
  JsonLine& add(const char* key, const char* v) { return add(key, std::string(v)); }
  JsonLine& add(const char* key, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", std::isfinite(v) ? v : 0.0);
    return raw(key, buf);
  }
  JsonLine& add(const char* key, std::uint64_t v) { return raw(key, std::to_string(v)); }
  JsonLine& add(const char* key, int v) { return raw(key, std::to_string(v)); }
  JsonLine& add(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
  void print() const {
    std::printf("{%s}\n", body_.c_str());
    std::fflush(stdout);
  }

 private:
  JsonLine& raw(const char* key, const std::string& v) {
    if (!body_.empty()) body_ += ", ";
    body_ += "\"" + std::string(key) + "\": " + v;
    return *this;
  }
  std::string body_;
};

// Lifts the soft limit on open files to the hard one, and as root the hard one too: the benchmark
// holds 10,000 connections (and the target server as many).
void raise_nofile_limit();

}  // namespace ferry::bench
