// The report of `ferry-agent doctor`: one line per check, in order, each OK, FAIL or SKIP, with what to
// do about a FAIL; and the exit code, which is the code of the first check that failed (the man page's
// table: 0 all OK, 2 usage or config, 3 relay not reachable, 4 handshake not answered, 5 egress, 6 the
// --target stream). Sans-I/O: the command runs the checks and prints what this builds.
#pragma once

#include <string>
#include <vector>

namespace ferry::agent {

enum class DoctorExit : int {
  Ok = 0,
  Usage = 2,             // the command line, the config, the key file, the local ports
  RelayUnreachable = 3,  // the relay's name does not resolve, or TCP does not connect
  NoHandshake = 4,       // the relay did not answer the handshake (wrong key, not enrolled)
  Egress = 5,            // the egress check failed, or the address differs from expected_egress
  Target = 6,            // the --target stream failed
};

struct DoctorCheck {
  enum class Status { Ok, Fail, Skip };
  std::string name;  // "config", "key file", ... (stable: the JSON's "check")
  Status status = Status::Ok;
  std::string detail;                // what was found
  std::string advice;                // for a FAIL (or a SKIP): what to do
  DoctorExit exit = DoctorExit::Ok;  // for a FAIL
};

class DoctorReport {
 public:
  void ok(std::string name, std::string detail);
  void fail(std::string name, DoctorExit exit, std::string detail, std::string advice);
  void skip(std::string name, std::string detail, std::string advice = {});
  // Skips every later check of `names` that has not run, "because NAME failed".
  void skip_rest(const std::vector<std::string>& names, std::string because);

  const std::vector<DoctorCheck>& checks() const noexcept { return checks_; }
  int exit_code() const noexcept;
  // "  OK    tcp          connected to 192.0.2.1:7443 in 3 ms\n", advice indented below a FAIL.
  static std::string line(const DoctorCheck& c);
  // The closing line: "all checks passed" or the first failure and the exit code.
  std::string summary() const;
  // The whole report as one JSON object: {"exit_code":N,"summary":"...","checks":[{...}]}.
  std::string json() const;

 private:
  std::vector<DoctorCheck> checks_;
};

}  // namespace ferry::agent
