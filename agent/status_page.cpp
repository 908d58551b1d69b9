#include "agent/status_page.hpp"

#include "common/link/session_words.hpp"

namespace ferry::agent {
namespace {

// Plain and readable in any browser, dark or light; nothing loaded from elsewhere.
constexpr const char* kStyle =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}"
    "h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}"
    "table{border-collapse:collapse}th,td{text-align:left;padding:.25em .8em .25em 0;"
    "border-bottom:1px solid #ddd;vertical-align:top}th{font-weight:600}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#176117}.bad{color:#a01818}"
    ".dim{color:#777}code{font-size:.95em}";

std::string cell(std::string_view text, const char* cls = nullptr) {
  return std::string("<td") + (cls ? std::string(" class=\"") + cls + "\"" : "") + ">" + html_escape(text) +
         "</td>";
}

std::string header_row(std::initializer_list<const char*> names) {
  std::string r = "<tr>";
  for (const char* n : names) r += std::string("<th>") + n + "</th>";
  return r + "</tr>\n";
}

std::string links_table(const StatusView& v) {
  std::string t =
      "<table id=\"links\">\n" + header_row({"Link", "State", "Relay", "Cipher", "RTT", "Session", "Resumes",
                                             "Connected for", "Sent", "Received", "Last error"});
  std::size_t i = 0;
  for (const LinkStatus& l : v.links) {
    ++i;
    std::string state = l.state;
    if (l.held) state += " (streams held for a resume)";
    std::string session = l.session.empty() ? "-" : l.session;
    if (!l.session.empty()) session += l.resumable ? " (resumable)" : " (not resumable)";
    std::string resumes = std::to_string(l.resumes);
    if (!l.last_resume_reason.empty()) resumes += " (last: " + l.last_resume_reason + ")";
    t += "<tr>" + cell(std::to_string(i)) + cell(state, l.state == "up" ? "ok" : "bad") + cell(l.relay) +
         cell(l.cipher.empty() ? "-" : l.cipher) +
         cell(l.rtt_ms ? std::to_string(*l.rtt_ms) + " ms" : "-", "n") + cell(session) + cell(resumes) +
         cell(l.connected_for_s ? format_age(static_cast<std::uint64_t>(*l.connected_for_s)) : "-") +
         cell(link::format_bytes(l.bytes_sent), "n") + cell(link::format_bytes(l.bytes_received), "n") +
         cell(l.last_error.empty() ? "-" : l.last_error) + "</tr>\n";
  }
  return t + "</table>\n";
}

std::string streams_table(const StatusView& v) {
  if (v.streams.empty()) return "<p class=\"dim\">No open streams.</p>\n";
  std::string t = "<table id=\"streams\">\n" + header_row({"Client", "Target", "Sent", "Received", "Age"});
  for (const StreamSnapshot& s : v.streams)
    t += "<tr>" + cell(s.client) + cell(s.target) + cell(link::format_bytes(s.sent), "n") +
         cell(link::format_bytes(s.received), "n") + cell(format_age(s.age_s), "n") + "</tr>\n";
  t += "</table>\n";
  if (v.streams_total > v.streams.size())
    t += "<p class=\"dim\">and " + std::to_string(v.streams_total - v.streams.size()) + " more</p>\n";
  return t;
}

std::string refusals_table(const StatusView& v) {
  if (v.refusals.empty()) return "<p class=\"dim\">None since the agent started.</p>\n";
  std::string t =
      "<table id=\"refusals\">\n" + header_row({"When", "Client", "Target", "Outcome", "Relay's reason"});
  for (const Refusal& r : v.refusals) {
    const auto ago = v.now_unix_s > r.at_unix_s ? static_cast<std::uint64_t>(v.now_unix_s - r.at_unix_s) : 0;
    t += "<tr>" + cell(format_age(ago) + " ago") + cell(r.client) + cell(r.target) + cell(r.outcome, "bad") +
         cell(r.reason.empty() ? "-" : r.reason) + "</tr>\n";
  }
  return t + "</table>\n";
}

std::string egress_section(const StatusView& v) {
  if (!v.egress_configured)
    return "<p class=\"dim\" id=\"egress\">Not configured: set [relay] egress_check_url in agent.toml "
           "(and expected_egress) to see which address the targets see.</p>\n";
  if (!v.egress.ran())
    return "<p class=\"dim\" id=\"egress\">Not run yet (it runs when a link comes up).</p>\n";
  const auto ago =
      v.now_unix_s > v.egress.at_unix_s ? static_cast<std::uint64_t>(v.now_unix_s - v.egress.at_unix_s) : 0;
  return std::string("<p id=\"egress\" class=\"") + (v.egress.matches() ? "ok" : "bad") + "\">" +
         html_escape(v.egress.summary()) + " <span class=\"dim\">(" + html_escape(format_age(ago)) +
         " ago)</span></p>\n";
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '?';
    }
  }
  return out;
}

std::string format_age(std::uint64_t s) {
  if (s < 60) return std::to_string(s) + " s";
  if (s < 3600) return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
}

std::string render_status_page(const StatusView& v) {
  std::size_t up = 0;
  for (const LinkStatus& l : v.links) up += l.state == "up";
  std::string page =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"" +
      std::to_string(kRefreshS) +
      "\"><meta name=\"viewport\" content=\"width=device-width\"><title>ferry-agent</title><style>" + kStyle +
      "</style></head>\n<body>\n<h1>ferry-agent</h1>\n<p>" + (v.draining ? "draining" : "running") + " for " +
      html_escape(format_age(v.uptime_s)) + " &middot; relay " + html_escape(v.relay) + " &middot; " +
      std::to_string(up) + " of " + std::to_string(v.links.size()) + " links up &middot; " +
      std::to_string(v.streams_total) + " open streams</p>\n";
  page += "<h2>Links</h2>\n" + links_table(v);
  page += "<h2>Open streams</h2>\n" + streams_table(v);
  page += "<h2>Last refusals</h2>\n" + refusals_table(v);
  page += "<h2>Egress check</h2>\n" + egress_section(v);
  page += "<p class=\"dim\">This page reloads every " + std::to_string(kRefreshS) +
          " s. The same as JSON: <code>/status</code>; on the command line: <code>ferry-agent status</code>, "
          "<code>ferry-agent doctor</code>.</p>\n</body></html>\n";
  return page;
}

}  // namespace ferry::agent
