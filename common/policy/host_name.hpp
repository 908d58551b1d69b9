// Host names as rules and targets write them, reduced to one spelling so that comparison is plain
// string equality: lower case, without the trailing dot of a fully qualified name.
//
// Grammar (a little wider than RFC 1123, because real zones hold '_' names such as _acme-challenge):
// letters, digits, '-', '_' and '.'; labels of 1..63 characters; at most 253 characters in all.
// A name whose last label is all digits is refused: no top-level domain is numeric (RFC 3696 §2), and
// such text ("10.0.0.256", "127.1", "2130706433") is either a mistyped address or a shorthand that
// getaddrinfo would quietly turn into an address, which a name rule must never be the way to reach.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace ferry::policy {

// Maximum length of a name in text form without the trailing dot (RFC 1035 §2.3.4 allows 255 octets on
// the wire, which is 253 characters of text).
inline constexpr std::size_t kMaxHostNameChars = 253;
inline constexpr std::size_t kMaxLabelChars = 63;

// The canonical spelling, or Errc::Config with a static message saying what is wrong.
Result<std::string> normalise_host_name(std::string_view text);

// True when `name` ends with "." + `suffix`, so that "*.example.com" matches "a.example.com" but neither
// "example.com" itself nor "badexample.com". Both arguments must already be normalised.
bool has_label_suffix(std::string_view name, std::string_view suffix) noexcept;

}  // namespace ferry::policy
