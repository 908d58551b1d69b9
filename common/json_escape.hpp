// Text inside a JSON string: '"' and '\' escaped, control bytes and bytes outside ASCII as \u00XX
// (a host name or a reason is whatever a peer sent; the output stays one line of ASCII).
#pragma once

#include <string>

namespace ferry {

std::string json_escape(const std::string& s);
// The same between quotes: "\"text\"".
inline std::string json_string(const std::string& s) { return "\"" + json_escape(s) + "\""; }

}  // namespace ferry
