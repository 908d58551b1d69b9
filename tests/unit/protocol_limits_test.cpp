// docs/protocol.md section 9 is the table a second implementation reads the limits from: this test
// reads that table and checks each row against the constant the code uses, so the two cannot drift
// apart again (a second implementation found the read buffer written as 1 MiB and as 256 KiB).
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "agent/link_client.hpp"
#include "common/codec/link_frame.hpp"
#include "common/config/relay_config.hpp"
#include "common/link/buffer_budget.hpp"
#include "common/link/link_session.hpp"
#include "common/link/mux.hpp"
#include "common/uv/link_activity.hpp"
#include "common/uv/link_connection.hpp"
#include "common/uv/unsent_budget.hpp"
#include "relay/link_handler.hpp"

using namespace ferry;

namespace {

// The rows of section 9's table: first cell -> second cell.
std::map<std::string, std::string> limits_table() {
  std::ifstream in(std::string(FERRY_SOURCE_DIR) + "/docs/protocol.md");
  REQUIRE(in);
  std::map<std::string, std::string> rows;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) inside = line.rfind("## 9. Limits", 0) == 0;
    if (!inside || line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line.substr(1));
    std::string cell;
    while (std::getline(ss, cell, '|')) {
      const auto a = cell.find_first_not_of(' '), b = cell.find_last_not_of(' ');
      cells.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
    }
    if (cells.size() >= 2) rows[cells[0]] = cells[1];
  }
  return rows;
}

std::string size_text(std::uint64_t bytes) {
  if (bytes % (1024 * 1024) == 0) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

std::string time_text(link::Millis d) {
  const auto ms = d.count();
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + (ms == 3'600'000 ? " hour" : " hours");
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + " minutes";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

}  // namespace

TEST_CASE("docs/protocol.md's limits table says what the code does", "[protocol][docs]") {
  const auto rows = limits_table();
  const link::LinkConfig link;
  const link::MuxLimits mux;
  auto says = [&](const std::string& row, const std::string& text) {
    INFO("row \"" << row << "\" should say \"" << text << "\"");
    REQUIRE(rows.count(row));
    CHECK(rows.at(row).find(text) != std::string::npos);
  };
  says("record length", std::to_string(frame::kMaxRecordPlaintext + 16) + " bytes incl. 16-byte tag");
  says("frame header; payload", std::to_string(frame::kHeaderBytes) + " bytes; up to " +
                                    std::to_string(frame::kMaxPayload) + " bytes");
  says("reason", std::to_string(frame::kMaxReasonBytes) + " bytes");
  says("handshake record", std::to_string(link::kMaxHandshakeRecord) + " bytes");
  says("handshake timeout", time_text(link.handshake_timeout));
  says("PING interval", time_text(link.keepalive_interval));
  says("dead after", time_text(link.dead_after));
  says("REKEY", time_text(link.rekey_interval) + " or 2^30 bytes");
  CHECK(link.rekey_bytes == std::uint64_t{1} << 30);
  says("new handshake; forced close",
       time_text(link.rehandshake_interval) + "; " + time_text(2 * link.rehandshake_interval));
  says("in-link handshakes", "one per " + time_text(link.min_rehandshake_gap));
  says("initial window", size_text(mux.initial_window));
  says("max window", size_text(mux.max_window) + " per stream");
  says("growth budget", size_text(mux.link_growth_budget) + " per link");
  says("window cap per RTT", size_text(mux.window_per_rtt_ms) + " per ms");
  says("streams", std::to_string(mux.max_streams) + " per link");
  says("stream ids", "up to 2^31 - 1");
  CHECK(link::kMaxStreamId == (std::uint32_t{1} << 31) - 1);
  says("DATA frame", size_text(mux.max_frame_data));
  says("send queue high / low", size_text(mux.send_high_water) + " / " + size_text(mux.send_low_water));
  says("send chunk", size_text(link::Chunk::kBytes));
  says("chunk pool", std::to_string(mux.pooled_chunks) + " free chunks (" +
                         size_text(mux.pooled_chunks * link::Chunk::kBytes) + ")");
  says("control queue", size_text(mux.max_control_bytes));
  says("links per agent",
       "at most " + std::to_string(relay::LinkHandler::kMaxLinksPerAgent) + " at the relay");
  says("read buffer", size_text(uv::LinkConnection::kReadBytes) + " per loop thread; " +
                          size_text(uv::link_activity::kTurnBytes) + " reads");
  says("write batch", size_text(uv::LinkConnection::kLargeBatch) +
                          " while the kernel takes batches whole, else " +
                          size_text(uv::LinkConnection::kSmallBatch));
  says("spare write buffers", std::to_string(uv::LinkConnection::kSpareBuffers));
  says("unsent in the kernel", size_text(uv::kMinUnsentBudget) + " to " + size_text(uv::kMaxUnsentBudget) +
                                   ": about " + std::to_string(uv::kUnsentBudgetMicros / 1000) + " ms");
  says("agent's buffered bytes", std::to_string(config::RelayConfig{}.max_buffered_mib_per_agent) +
                                     " MiB per agent at the relay; " +
                                     size_text(link::BufferBudget::kSmallWindow) + " windows");
  says("session grace", std::to_string(config::RelayConfig{}.resume_grace_s) + " s");
  says("reconnect while held", "every ≤ " + time_text(link::Millis(agent::LinkClient::kHeldBackoffMaxMs)));
  says("timer tick", std::to_string(uv::LinkConnection::kTickMs) + " ms");
  says("close flush", time_text(link::Millis(uv::LinkConnection::kCloseFlushMs)));
}

TEST_CASE("docs/protocol.md states one read buffer size and one worst case per link", "[protocol][docs]") {
  std::ifstream in(std::string(FERRY_SOURCE_DIR) + "/docs/protocol.md");
  std::stringstream all;
  all << in.rdbuf();
  const std::string doc = all.str();
  CHECK(doc.find("1 MiB buffer per loop thread") == std::string::npos);
  CHECK(doc.find("read buffer, shared                 = 1 MiB") == std::string::npos);
  CHECK(doc.find("about 2.1 GiB") == std::string::npos);
}
