#include "relay/metrics.hpp"

namespace ferry::relay {
namespace {

const char* code_label(std::size_t i) {
  static const char* names[] = {"ok",      "refused", "host_unreachable",  "network_unreachable",
                                "timeout", "denied",  "name_not_resolved", "limit",
                                "failure"};
  return names[i];
}

const char* failure_label(std::size_t i) {
  static const char* names[] = {"not_admitted",
                                "replay",
                                "decrypt",
                                "bad_version",
                                "timeout",
                                "malformed",
                                "rate_limited",
                                "too_many_unauthenticated",
                                "too_many_from_source",
                                "evicted",
                                "proxy_header_missing",
                                "proxy_header_untrusted"};
  return names[i];
}

}  // namespace

void Metrics::dial(frame::OpenCode code, std::uint64_t latency_ms) {
  dials_[static_cast<std::size_t>(code)]++;
  if (code == frame::OpenCode::Denied) return;  // no dial happened
  std::size_t b = 0;
  while (b < kBucketsMs.size() && latency_ms > kBucketsMs[b]) ++b;
  buckets_[b]++;
  latency_sum_ms_ += latency_ms;
  latency_count_++;
}

Metrics::HandshakeFailure Metrics::classify(const Error& e) {
  switch (e.code) {
    case Errc::Refused:
      return HandshakeFailure::NotAdmitted;
    case Errc::Replay:
      return HandshakeFailure::Replay;
    case Errc::DecryptFailed:
    case Errc::BadKey:
      return HandshakeFailure::Decrypt;
    case Errc::BadVersion:
      return HandshakeFailure::BadVersion;
    case Errc::Timeout:
      return HandshakeFailure::Timeout;
    default:
      return HandshakeFailure::Malformed;
  }
}

std::string Metrics::render(const std::vector<std::size_t>& worker_links) const {
  std::string s;
  auto line = [&s](const std::string& text) { s += text + "\n"; };
  line("# HELP ferry_links Agent links established now.");
  line("# TYPE ferry_links gauge");
  line("ferry_links " + std::to_string(links.load()));
  line("# HELP ferry_links_by_cipher Agent links established now, by link cipher.");
  line("# TYPE ferry_links_by_cipher gauge");
  for (const auto suite : {crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm})
    line("ferry_links_by_cipher{cipher=\"" + std::string(crypto::suite_name(suite)) + "\"} " +
         std::to_string(links_by_suite_[static_cast<std::size_t>(suite)].load()));
  line("# HELP ferry_worker_links Connections each event-loop thread holds now, handshakes included.");
  line("# TYPE ferry_worker_links gauge");
  for (std::size_t w = 0; w < worker_links.size(); ++w)
    line("ferry_worker_links{worker=\"" + std::to_string(w) + "\"} " + std::to_string(worker_links[w]));
  line("# HELP ferry_streams Streams open now.");
  line("# TYPE ferry_streams gauge");
  line("ferry_streams " + std::to_string(streams.load()));
  line("# HELP ferry_bytes_total Bytes carried, by direction (up: agent to target), counted as streams end.");
  line("# TYPE ferry_bytes_total counter");
  line("ferry_bytes_total{direction=\"up\"} " + std::to_string(bytes_up.load()));
  line("ferry_bytes_total{direction=\"down\"} " + std::to_string(bytes_down.load()));
  line(
      "# HELP ferry_budget_waits_total Streams that opened with no credit and waited for their agent's "
      "buffered bytes (max_buffered_mib_per_agent) to come back.");
  line("# TYPE ferry_budget_waits_total counter");
  line("ferry_budget_waits_total " + std::to_string(budget_waits.load()));
  line("# HELP ferry_sessions_held Sessions whose link was lost, held for a resume (resume_grace_s).");
  line("# TYPE ferry_sessions_held gauge");
  line("ferry_sessions_held " + std::to_string(sessions_held.load()));
  line("# HELP ferry_resumes_total Sessions resumed on a new link.");
  line("# TYPE ferry_resumes_total counter");
  line("ferry_resumes_total " + std::to_string(resumes.load()));
  line("# HELP ferry_resumed_bytes_total Stream bytes the relay sent again after resumes.");
  line("# TYPE ferry_resumed_bytes_total counter");
  line("ferry_resumed_bytes_total " + std::to_string(resumed_bytes.load()));
  line("# HELP ferry_sessions_expired_total Held sessions whose grace ran out; their streams were closed.");
  line("# TYPE ferry_sessions_expired_total counter");
  line("ferry_sessions_expired_total " + std::to_string(sessions_expired.load()));
  line("# HELP ferry_dials_total Stream opens, by result.");
  line("# TYPE ferry_dials_total counter");
  for (std::size_t i = 0; i < dials_.size(); ++i)
    line(std::string("ferry_dials_total{result=\"") + code_label(i) + "\"} " +
         std::to_string(dials_[i].load()));
  line(
      "# HELP ferry_handshake_failures_total Connections refused before or during authentication, by "
      "reason.");
  line("# TYPE ferry_handshake_failures_total counter");
  for (std::size_t i = 0; i < failures_.size(); ++i)
    line(std::string("ferry_handshake_failures_total{reason=\"") + failure_label(i) + "\"} " +
         std::to_string(failures_[i].load()));
  line("# HELP ferry_dial_seconds Time from OPEN to the target's answer.");
  line("# TYPE ferry_dial_seconds histogram");
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b <= kBucketsMs.size(); ++b) {
    cumulative += buckets_[b].load();
    const std::string le =
        b < kBucketsMs.size() ? std::to_string(static_cast<double>(kBucketsMs[b]) / 1000.0) : "+Inf";
    line("ferry_dial_seconds_bucket{le=\"" + le + "\"} " + std::to_string(cumulative));
  }
  line("ferry_dial_seconds_sum " + std::to_string(static_cast<double>(latency_sum_ms_.load()) / 1000.0));
  line("ferry_dial_seconds_count " + std::to_string(latency_count_.load()));
  return s;
}

}  // namespace ferry::relay
