// iotd-bench-http: open-loop HTTP/1.1 GET load at a fixed rate (the BENCHMARKS.md target
// "p99 at a fixed 1,000 req/s"); see lib/load_client.hpp for how requests are timed.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "lib/args.hpp"
#include "lib/clock.hpp"
#include "lib/load_client.hpp"
#include "lib/report.hpp"

namespace {

using namespace iotd::bench;

constexpr const char* kUsage = R"(usage: iotd-bench-http --url http://HOST:PORT/PATH [--url ...] [options]
  --url URL          request target; repeat for several (same host and port), used round-robin
  --paths-file F     targets, one path per line ('#' comments), used round-robin, on the
                     host and port of the single --url (whose own path is then unused)
  --rate R           requests per second, scheduled at t0 + i/R (default 1000);
                     0 = closed loop, as fast as the connections allow
  --duration S       recorded seconds (default 10)
  --warmup S         seconds run before, not recorded (default 0)
  --connections C    keep-alive connections (default 32)
  --timeout-ms T     per request, from its scheduled time (default 2000)
  --json             one JSON object instead of lines
Latency runs from each request's scheduled time to the last byte of its response.
Exit status: 0 when every scheduled request completed, 1 otherwise, 2 on usage errors.)";

struct Options {
  LoadOptions load;
  bool json = false;
};

std::vector<std::string> read_paths(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw UsageError("--paths-file: cannot read " + file);
  std::vector<std::string> paths;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    if (line.front() != '/') throw UsageError("--paths-file: not a path: " + line);
    paths.push_back(line);
  }
  if (paths.empty()) throw UsageError("--paths-file: no paths in " + file);
  return paths;
}

Options parse(int argc, char** argv) {
  Options o;
  Args a(argc, argv);
  std::vector<Url> urls;
  std::string paths_file;
  while (!a.done()) {
    if (auto v = a.value("--url")) {
      auto url = parse_url(*v);
      if (!url) throw UsageError("--url: not an http:// URL: " + *v);
      urls.push_back(*url);
    } else if (auto v = a.value("--paths-file")) {
      paths_file = *v;
    } else if (auto v = a.value("--rate")) {
      o.load.rate = to_double(*v, "--rate", 0, 10'000'000);
    } else if (auto v = a.value("--duration")) {
      o.load.duration_s = to_double(*v, "--duration", 0.001, 86'400);
    } else if (auto v = a.value("--warmup")) {
      o.load.warmup_s = to_double(*v, "--warmup", 0, 86'400);
    } else if (auto v = a.value("--connections")) {
      o.load.connections = static_cast<int>(to_integer(*v, "--connections", 1, 10'000));
    } else if (auto v = a.value("--timeout-ms")) {
      o.load.timeout = std::chrono::milliseconds(to_integer(*v, "--timeout-ms", 1, 3'600'000));
    } else if (a.flag("--json")) {
      o.json = true;
    } else if (a.flag("--help") || a.flag("-h")) {
      std::puts(kUsage);
      std::exit(0);
    } else {
      throw UsageError("unknown argument: " + a.peek());
    }
  }
  if (urls.empty()) throw UsageError("--url is required");
  o.load.server = urls.front();
  for (const auto& u : urls)
    if (u.host != urls.front().host || u.port != urls.front().port)
      throw UsageError("all --url must share one host and port");
  if (!paths_file.empty()) {
    if (urls.size() != 1) throw UsageError("--paths-file takes exactly one --url (for host and port)");
    o.load.targets = read_paths(paths_file);
  } else {
    for (const auto& u : urls) o.load.targets.push_back(u.target);
  }
  return o;
}

nlohmann::ordered_json to_json(const Options& o, const LoadResult& r) {
  const auto& l = r.latency_ns;
  nlohmann::ordered_json latency{{"p50", round3(ns_to_ms(l.p50))},   {"p90", round3(ns_to_ms(l.p90))},
                                 {"p99", round3(ns_to_ms(l.p99))},   {"p99_9", round3(ns_to_ms(l.p999))},
                                 {"max", round3(ns_to_ms(l.max))},   {"mean", round3(l.mean / 1e6)},
                                 {"min", round3(ns_to_ms(l.min))}};
  nlohmann::ordered_json statuses = nlohmann::ordered_json::object();
  for (const auto& [code, n] : r.statuses) statuses[std::to_string(code)] = n;
  return {
      {"tool", "iotd-bench-http"},
      {"mode", o.load.rate > 0 ? "open" : "closed"},
      {"server", o.load.server.authority()},
      {"targets", o.load.targets.size()},
      {"first_target", o.load.targets.front()},
      {"rate", o.load.rate},
      {"duration_s", o.load.duration_s},
      {"warmup_s", o.load.warmup_s},
      {"connections", o.load.connections},
      {"timeout_ms", o.load.timeout.count()},
      {"scheduled", r.scheduled},
      {"completed", r.completed},
      {"non_2xx", r.non_2xx},
      {"socket_errors", r.socket_errors},
      {"timeouts", r.timeouts},
      {"waited_for_connection", r.waited},
      {"wait_total_ms", round3(r.wait_total_ms)},
      {"connects", r.connects},
      {"elapsed_s", round3(r.elapsed_s)},
      {"achieved_rate", round3(r.achieved_rate)},
      {"latency_ms", latency},
      {"mean_body_bytes", round3(r.mean_body_bytes)},
      {"statuses", statuses},
      {"first_error", r.first_error.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.first_error)},
  };
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "iotd-bench-http: %s\n%s\n", e.what(), kUsage);
    return 2;
  }
  try {
    LoadResult r = run_load(o.load);
    print_report(to_json(o, r), o.json);
    return r.completed == r.scheduled ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iotd-bench-http: %s\n", e.what());
    return 1;
  }
}
