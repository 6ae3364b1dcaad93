// Decoder cost per message (issue 14, docs/architecture.md §6): decodes N payloads of the
// shape iotd-bench-mosq-pub publishes (100 devices, seq, ISO timestamp, 5 metrics) and
// prints the time per message. --dom decodes with the DOM path alone (what decode() did
// before the direct path), so one binary gives the before/after. For instructions per
// message run it under callgrind twice (different N) and divide the difference:
//   valgrind --tool=callgrind iotd-bench-decode --messages 20000 [--dom]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../src/pipeline/decode_common.hpp"
#include "iotd/pipeline/decoder.hpp"

int main(int argc, char** argv) {
  long messages = 100000;
  bool dom = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--messages") == 0 && i + 1 < argc) {
      messages = std::atol(argv[++i]);
    } else if (std::strcmp(argv[i], "--dom") == 0) {
      dom = true;
    } else {
      std::fprintf(stderr, "usage: iotd-bench-decode [--messages N] [--dom]\n");
      return 2;
    }
  }
  constexpr int kDevices = 100;
  std::vector<std::string> payloads;
  payloads.reserve(static_cast<std::size_t>(messages));
  char buf[512];
  for (long i = 0; i < messages; ++i) {
    const int d = static_cast<int>(i % kDevices);
    const long ms = 123 + i % 1000;
    std::snprintf(buf, sizeof buf,
                  "{\"device_id\":\"sim-%05d\",\"seq\":%ld,\"timestamp\":\"2026-12-07T03:%02ld:%02ld.%03ldZ\","
                  "\"temperature\":%.2f,\"humidity\":%.1f,\"pressure\":%.1f,\"battery\":%.1f,\"rssi\":%d}",
                  d, i / kDevices, (i / 60000) % 60, (i / 1000) % 60, ms, 20.0 + (i % 97) * 0.07,
                  40.0 + (i % 31) * 0.3, 1000.0 + (i % 17) * 0.4, 3.0 + (i % 7) * 0.1,
                  -40 - static_cast<int>(i % 50));
    payloads.emplace_back(buf);
  }
  const iotd::pipeline::DecoderOptions opts;
  const std::int64_t received_at = 1'796'612'400'000;  // 2026-12-07T04:20:00Z
  long readings = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& p : payloads) {
    const iotd::pipeline::DecodeInput in{p, "", received_at};
    const auto out =
        dom ? iotd::pipeline::detail::decode_dom(in, opts) : iotd::pipeline::decode(in, opts);
    if (!out) {
      std::fprintf(stderr, "rejected: %s %s\n", out.error().reason.c_str(), out.error().detail.c_str());
      return 1;
    }
    readings += static_cast<long>(out->readings.size());
  }
  const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s path: %ld messages, %ld readings, %.0f ns per message\n", dom ? "dom" : "default",
              messages, readings, messages > 0 ? ns / static_cast<double>(messages) : 0.0);
  return readings == messages ? 0 : 1;
}
