// The agent's status page (GET /): what it lists, and that nothing a client sent becomes markup.
#include "agent/status_page.hpp"

#include <catch2/catch.hpp>

using namespace ferry;
using namespace ferry::agent;

namespace {

StatusView sample() {
  StatusView v;
  v.uptime_s = 3725;
  v.relay = "relay.example.com:7443";
  LinkStatus l;
  l.state = "up";
  l.relay = v.relay;
  l.cipher = "aes-256-gcm";
  l.rtt_ms = 23;
  l.session = "3541974f";
  l.resumable = true;
  l.resumes = 2;
  l.last_resume_reason = "timeout: a probe went unanswered for 2 s";
  l.connected_for_s = 75;
  l.bytes_sent = 2048;
  v.links.push_back(l);
  v.streams.push_back({"127.0.0.1:50111", "db.internal:5432", 1536, 3 * 1024 * 1024, 12});
  v.streams_total = 1;
  v.refusals.push_back(
      {1000, "127.0.0.1:50112", "example.com:443", "denied by policy", "rule 2 of [policy]: \"deny *\""});
  v.egress_configured = true;
  v.egress.at_unix_s = 1000;
  v.egress.address = "203.0.113.7";
  v.egress.expected = "203.0.113.7";
  v.now_unix_s = 1030;
  return v;
}

}  // namespace

TEST_CASE("status page: links, streams, refusals and the egress check, refreshed without script",
          "[status]") {
  const std::string page = render_status_page(sample());
  CHECK(page.rfind("<!doctype html>", 0) == 0);
  CHECK_THAT(page, Catch::Contains("<meta http-equiv=\"refresh\" content=\"2\">"));
  CHECK_THAT(page, !Catch::Contains("<script"));
  CHECK_THAT(page, !Catch::Contains("http://"));  // nothing loaded from elsewhere
  CHECK_THAT(page, !Catch::Contains("https://"));
  CHECK_THAT(page, Catch::Contains("running for 1 h 2 min"));
  CHECK_THAT(page, Catch::Contains("<td class=\"ok\">up</td>"));
  CHECK_THAT(page, Catch::Contains("<td class=\"n\">23 ms</td>"));
  CHECK_THAT(page, Catch::Contains("3541974f (resumable)"));
  CHECK_THAT(page, Catch::Contains("2 (last: timeout: a probe went unanswered for 2 s)"));
  CHECK_THAT(page,
             Catch::Contains("<td>127.0.0.1:50111</td><td>db.internal:5432</td><td class=\"n\">1.5 KiB</td>"
                             "<td class=\"n\">3.0 MiB</td><td class=\"n\">12 s</td>"));
  CHECK_THAT(page, Catch::Contains("<td>30 s ago</td><td>127.0.0.1:50112</td><td>example.com:443</td>"));
  CHECK_THAT(page, Catch::Contains("rule 2 of [policy]: &quot;deny *&quot;"));
  CHECK_THAT(page, Catch::Contains("the target sees you as 203.0.113.7, as expected_egress says"));
}

TEST_CASE("status page: a hostile host name or reason is text, never markup", "[status]") {
  StatusView v = sample();
  v.streams[0].target = "<img src=x onerror=alert(1)>.example:80";
  v.refusals[0].reason = "</td><script>alert('x')</script>";
  v.links[0].last_error = "a & b \x01\xff";
  const std::string page = render_status_page(v);
  CHECK_THAT(page, !Catch::Contains("<img"));
  CHECK_THAT(page, !Catch::Contains("<script"));
  CHECK_THAT(page, Catch::Contains("&lt;img src=x onerror=alert(1)&gt;.example:80"));
  CHECK_THAT(page, Catch::Contains("&lt;/td&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  CHECK_THAT(page, Catch::Contains("a &amp; b ??"));
}

TEST_CASE("status page: empty sections say so; many streams are cut with a count", "[status]") {
  StatusView v;
  v.relay = "r:1";
  std::string page = render_status_page(v);
  CHECK_THAT(page, Catch::Contains("No open streams."));
  CHECK_THAT(page, Catch::Contains("None since the agent started."));
  CHECK_THAT(page, Catch::Contains("Not configured: set [relay] egress_check_url"));
  v.egress_configured = true;
  CHECK_THAT(render_status_page(v), Catch::Contains("Not run yet"));
  v.egress.at_unix_s = 5;
  v.egress.expected = "203.0.113.7";
  v.egress.address = "198.51.100.1";
  v.now_unix_s = 5;
  CHECK_THAT(render_status_page(v),
             Catch::Contains(
                 "class=\"bad\">the target sees you as 198.51.100.1, but expected_egress is 203.0.113.7"));
  v.streams.assign(kMaxStreamsShown, StreamSnapshot{"c", "t:1", 0, 0, 0});
  v.streams_total = kMaxStreamsShown + 7;
  CHECK_THAT(render_status_page(v), Catch::Contains("and 7 more"));
}

TEST_CASE("status page: ages read as a person would say them", "[status]") {
  CHECK(format_age(0) == "0 s");
  CHECK(format_age(59) == "59 s");
  CHECK(format_age(61) == "1 min 1 s");
  CHECK(format_age(7322) == "2 h 2 min");
}
