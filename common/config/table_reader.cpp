#include "common/config/table_reader.hpp"

#include <algorithm>

#include "common/codec/link_frame.hpp"
#include "common/routes/route_list.hpp"

namespace ferry::config {

std::string ConfigError::to_string() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line);
  s += ": ";
  if (!key.empty()) s += key + ": ";
  return s + message;
}

std::optional<ConfigError> parse_toml_file(const std::string& path, toml::table& out) {
  try {
    out = toml::parse_file(
        path);  // exceptions stop here, before any event loop runs (CONTRIBUTING.md "Errors and logs")
  } catch (const toml::parse_error& e) {
    return ConfigError{path, static_cast<int>(e.source().begin.line), "", std::string(e.description())};
  }
  return std::nullopt;
}

TableReader::TableReader(const toml::table& table, const std::string& file, std::string prefix,
                         std::optional<ConfigError>& error)
    : table_(table), file_(file), prefix_(std::move(prefix)), error_(error) {}

int TableReader::line_of(std::string_view key) const {
  if (const toml::node* n = table_.get(key)) return static_cast<int>(n->source().begin.line);
  return static_cast<int>(table_.source().begin.line);
}

void TableReader::fail(std::string_view key, std::string message) {
  if (error_) return;
  error_ = ConfigError{file_, line_of(key), name(key), std::move(message)};
}

void TableReader::string(std::string_view key, std::string& out, bool required) {
  read_.emplace_back(key);
  const toml::node* n = table_.get(key);
  if (!n) {
    if (required) fail(key, "is required");
    return;
  }
  if (!n->is_string()) return fail(key, "must be a string");
  out = **n->as_string();
}

void TableReader::integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max) {
  read_.emplace_back(key);
  const toml::node* n = table_.get(key);
  if (!n) return;
  if (!n->is_integer()) return fail(key, "must be an integer");
  const std::int64_t v = **n->as_integer();
  if (v < min || v > max)
    return fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  out = v;
}

const toml::node* TableReader::node(std::string_view key) {
  read_.emplace_back(key);
  return table_.get(key);
}

void TableReader::boolean(std::string_view key, bool& out) {
  read_.emplace_back(key);
  const toml::node* n = table_.get(key);
  if (!n) return;
  if (!n->is_boolean()) return fail(key, "must be true or false");
  out = **n->as_boolean();
}

void TableReader::string_array(std::string_view key, std::vector<std::string>& out) {
  read_.emplace_back(key);
  const toml::node* n = table_.get(key);
  if (!n) return;
  const toml::array* a = n->as_array();
  if (!a) return fail(key, "must be an array of strings");
  out.clear();
  for (const auto& item : *a) {
    if (!item.is_string()) return fail(key, "must be an array of strings");
    out.push_back(**item.as_string());
  }
}

const toml::table* TableReader::table(std::string_view key) {
  read_.emplace_back(key);
  const toml::node* n = table_.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) {
    fail(key, "must be a table");
    return nullptr;
  }
  return n->as_table();
}

const toml::array* TableReader::array_of_tables(std::string_view key) {
  read_.emplace_back(key);
  const toml::node* n = table_.get(key);
  if (!n) return nullptr;
  if (!n->is_array_of_tables()) {
    fail(key, "must be an array of tables ([[" + std::string(key) + "]])");
    return nullptr;
  }
  return n->as_array();
}

void TableReader::reject_unknown() {
  for (const auto& [k, v] : table_) {
    const std::string_view key = k.str();
    if (std::find(read_.begin(), read_.end(), key) == read_.end()) {
      if (!error_)
        error_ = ConfigError{file_, static_cast<int>(k.source().begin.line), name(key), "unknown key"};
      return;
    }
  }
}

void read_address_list(TableReader& r, std::string_view key, std::vector<std::string>& texts) {
  std::string why;
  auto routes = routes::parse_routes(texts, &why);
  if (!routes) return r.fail(key, why);
  texts.clear();
  for (std::size_t i = 0; i < routes->size(); ++i) {
    const routes::Route& route = (*routes)[i];
    if (route.pattern.is_name_pattern())
      return r.fail(key, "entry " + std::to_string(i + 1) + " \"" + route.text +
                             "\": an address or network (198.51.100.10, 198.51.100.0/24), not a name");
    texts.push_back(route.text);
  }
}

void read_route_list(TableReader& r, std::string_view key, std::vector<std::string>& texts) {
  std::string why;
  auto routes = routes::parse_routes(texts, &why);
  if (!routes) return r.fail(key, why);
  texts.clear();
  for (const routes::Route& route : *routes) texts.push_back(route.text);
  if (frame::routes_payload_size(texts) > frame::kMaxRoutesPayload)
    r.fail(key, "the list is longer than " + std::to_string(frame::kMaxRoutesPayload / 1024) +
                    " KiB, more than one ROUTES frame holds");
}

}  // namespace ferry::config
