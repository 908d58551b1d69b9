// A configuration error names the file, the line and the key at fault (docs/spec.md 2.1: exit code 2).
#pragma once

#include <string>

namespace ferry::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 0 when the error is not tied to a line (a missing required key)
  std::string key;
  std::string message;
  // "relay.toml:12: limits.idle_timeout_s: must be between 1 and 86400"
  std::string to_string() const;
};

}  // namespace ferry::config
