#include "agent/egress_check.hpp"

#include <ctime>

#include "common/codec/egress_answer.hpp"

namespace ferry::agent {

bool EgressReport::matches() const {
  return ran() && error.empty() && (expected.empty() || egress::same_address(address, expected));
}

std::string EgressReport::summary() const {
  if (!ran()) return "not run";
  if (!error.empty()) return error;
  std::string s = "the target sees you as " + address;
  if (!expected.empty())
    s += matches() ? ", as expected_egress says"
                   : ", but expected_egress is " + expected +
                         ": traffic leaves from another address than the one the targets whitelist";
  return s;
}

EgressCheck::EgressCheck(uv_loop_t* loop, OneStream::Links links, const config::AgentConfig& cfg)
    : loop_(loop), links_(std::move(links)), cfg_(cfg) {}

void EgressCheck::run(std::function<void(const EgressReport&)> done) {
  if (closed_) return;
  retire();
  auto url = egress::parse_check_url(cfg_.egress_check_url);
  EgressReport report;
  report.at_unix_s = static_cast<std::int64_t>(std::time(nullptr));
  report.expected = cfg_.expected_egress;
  if (!url) {  // agent.toml was checked at load; only an empty URL gets here
    report.error = "no egress_check_url in agent.toml [relay]";
    return done(report);
  }
  running_ = std::make_unique<OneStream>(loop_, links_);
  const std::string name = url->target.to_string();
  running_->start(
      url->target, egress::request_for(*url), kDeadlineMs,
      [](std::string_view answer, bool ended) {
        return egress::decode_answer(
                   ByteSpan(reinterpret_cast<const std::uint8_t*>(answer.data()), answer.size()), ended)
            .done;
      },
      [this, report, name, done = std::move(done)](const OneStream::Outcome& o) mutable {
        if (o.open.code != frame::OpenCode::Ok) {
          report.error = "the relay did not open a stream to the egress check's " + name + ": " +
                         frame::open_code_name(o.open.code) +
                         (o.open.reason.empty() ? "" : " (" + o.open.reason + ")");
        } else {
          const auto a = egress::decode_answer(
              ByteSpan(reinterpret_cast<const std::uint8_t*>(o.answer.data()), o.answer.size()), o.ended);
          if (!a.address.empty())
            report.address = a.address;
          else
            report.error =
                !a.error.empty() ? a.error : "the egress check (" + name + ") broke off: " + o.error;
        }
        retire();  // not from inside the stream's own callback: it is closed, then freed
        done(report);
      });
}

void EgressCheck::retire() {
  if (!running_) return;
  OneStream* s = running_.get();
  closing_.push_back(std::move(running_));
  s->close([this, s] {
    std::erase_if(closing_, [s](const auto& p) { return p.get() == s; });
    maybe_gone();
  });
}

void EgressCheck::close(std::function<void()> gone) {
  closed_ = true;
  gone_ = std::move(gone);
  retire();
  maybe_gone();
}

void EgressCheck::maybe_gone() {
  if (closed_ && closing_.empty() && !running_ && gone_) std::exchange(gone_, nullptr)();
}

}  // namespace ferry::agent
