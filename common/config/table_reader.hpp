// Reads one TOML table with typed getters that remember which keys were read, so that every key
// left over is reported as unknown (docs/spec.md 4: typos must not pass silently). The first error wins.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config/config_error.hpp"

namespace ferry::config {

// Parses a TOML file; a syntax error becomes a ConfigError at its line.
std::optional<ConfigError> parse_toml_file(const std::string& path, toml::table& out);

class TableReader {
 public:
  // `prefix` is how keys are named in errors: "" at top level, "limits." inside [limits], "agents[2]."
  TableReader(const toml::table& table, const std::string& file, std::string prefix,
              std::optional<ConfigError>& error);

  bool has(std::string_view key) const { return table_.contains(key); }
  void string(std::string_view key, std::string& out, bool required = false);
  void integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max);
  void string_array(std::string_view key, std::vector<std::string>& out);
  void boolean(std::string_view key, bool& out);
  // The raw value, for a key of more than one shape; marks it read.
  const toml::node* node(std::string_view key);
  // A sub-table; nullptr when absent (or after an error).
  const toml::table* table(std::string_view key);
  const toml::array* array_of_tables(std::string_view key);
  // Reports every key not read so far. Call last.
  void reject_unknown();
  // Records an error about `key` (at the key's line when it exists, else the table's).
  void fail(std::string_view key, std::string message);
  int line_of(std::string_view key) const;
  std::string name(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  const toml::table& table_;
  const std::string& file_;
  std::string prefix_;
  std::optional<ConfigError>& error_;
  std::vector<std::string> read_;
};

// A list of routes (common/routes/route_list.hpp) read from `key`: each must parse, and the list must
// fit one ROUTES frame; `texts` become their canonical spelling. Errors name the entry.
void read_route_list(TableReader& r, std::string_view key, std::vector<std::string>& texts);
// Addresses and networks only (relay.toml [proxy_protocol] trusted), in the routes' grammar; made
// canonical in place, or the first bad entry reported on `key`.
void read_address_list(TableReader& r, std::string_view key, std::vector<std::string>& texts);

}  // namespace ferry::config
