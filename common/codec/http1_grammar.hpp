// The small pieces of HTTP grammar every HTTP/1.1 codec here shares (RFC 9110 §5.6, RFC 9112 §5):
//
//   token      = 1*tchar
//   tchar      = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
//              / DIGIT / ALPHA
//   OWS        = *( SP / HTAB )
//   field-line = field-name ":" OWS field-value OWS
//   #rule      = [ element ] *( OWS "," OWS [ element ] )          (comma-separated lists)
//
// Field names compare case-insensitively; values are kept as received, trimmed of OWS.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/codec/byte_reader.hpp"

namespace ferry::http1 {

struct Header {
  std::string name;   // as received; compare with iequals()
  std::string value;  // without leading and trailing OWS
  friend bool operator==(const Header&, const Header&) = default;
};
using Headers = std::vector<Header>;

[[nodiscard]] bool is_tchar(unsigned char c) noexcept;
[[nodiscard]] bool is_token(std::string_view s) noexcept;  // false for ""
// A byte allowed inside a field value: HTAB, SP, VCHAR or obs-text. Every other control byte
// (CR and LF included) is refused, so a value can never end a line or forge one.
[[nodiscard]] bool is_field_vchar(unsigned char c) noexcept;
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;
[[nodiscard]] std::string_view trim_ows(std::string_view s) noexcept;

// The elements of a comma-separated list, each trimmed of OWS. Empty elements are kept, so a caller
// that must be strict (Transfer-Encoding, Content-Length) can see them; has_token() skips them.
[[nodiscard]] std::vector<std::string_view> split_list(std::string_view value);

// The first field with this name, or nullptr.
[[nodiscard]] const Header* find_header(const Headers& h, std::string_view name) noexcept;
[[nodiscard]] std::size_t count_headers(const Headers& h, std::string_view name) noexcept;
// True when any field `name` lists `token` (case-insensitive), e.g. has_token(h, "Connection", "close").
[[nodiscard]] bool has_token(const Headers& h, std::string_view name, std::string_view token);

// Appends `s`, or a "name: value" field line with its CRLF, to a head being built.
void put(Bytes& out, std::string_view s);
void put_field(Bytes& out, std::string_view name, std::string_view value);

}  // namespace ferry::http1
