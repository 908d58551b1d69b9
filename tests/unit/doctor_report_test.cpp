// `ferry-agent doctor`'s report: lines, skips, the exit code of the first failure, and the JSON.
#include "agent/doctor_report.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace ferry;
using agent::DoctorExit;
using agent::DoctorReport;

TEST_CASE("doctor: all OK is exit 0, and a skip is not a failure", "[doctor]") {
  DoctorReport r;
  r.ok("config", "agent.toml parses");
  r.skip("target", "no --target HOST:PORT given");
  CHECK(r.exit_code() == 0);
  CHECK(r.summary() == "all checks passed");
  CHECK(DoctorReport::line(r.checks()[0]) == "  OK    config        agent.toml parses\n");
  CHECK(DoctorReport::line(r.checks()[1]) == "  SKIP  target        no --target HOST:PORT given\n");
}

TEST_CASE("doctor: the exit code is the first failure's, later checks are skipped naming it", "[doctor]") {
  DoctorReport r;
  r.ok("config", "ok");
  r.fail("handshake", DoctorExit::NoHandshake, "the relay did not answer", "enroll this key");
  r.fail("target", DoctorExit::Target, "denied", "ask");
  r.skip_rest({"config", "handshake", "wire", "rtt", "target"}, r.checks()[1].name);
  CHECK(r.exit_code() == 4);
  CHECK(r.summary() == "FAIL: handshake (exit code 4)");
  REQUIRE(r.checks().size() == 5);
  CHECK(r.checks()[3].name == "wire");
  CHECK(r.checks()[3].detail == "not checked: handshake failed");
  CHECK(r.checks()[4].name == "rtt");
  const std::string fail = DoctorReport::line(r.checks()[1]);
  CHECK(fail == "  FAIL  handshake     the relay did not answer\n                      -> enroll this key\n");
}

TEST_CASE("doctor: --json is one object with every check", "[doctor]") {
  DoctorReport r;
  r.ok("tcp", "connected to 192.0.2.1:7443 in 3 ms");
  r.fail("egress", DoctorExit::Egress, "the target sees you as \"198.51.100.1\"", "check egress_bind");
  const auto j = nlohmann::json::parse(r.json());
  CHECK(j["exit_code"] == 5);
  CHECK(j["summary"] == "FAIL: egress (exit code 5)");
  REQUIRE(j["checks"].size() == 2);
  CHECK(j["checks"][0]["check"] == "tcp");
  CHECK(j["checks"][0]["status"] == "OK");
  CHECK(j["checks"][0]["advice"].is_null());
  CHECK_FALSE(j["checks"][0].contains("exit_code"));
  CHECK(j["checks"][1]["status"] == "FAIL");
  CHECK(j["checks"][1]["detail"] == "the target sees you as \"198.51.100.1\"");
  CHECK(j["checks"][1]["exit_code"] == 5);
}
