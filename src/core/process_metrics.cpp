#include "iotd/core/process_metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "iotd/core/prometheus_text.hpp"

namespace iotd::metrics {
namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// /proc/self/stat's fields from field 3 (state) on: the command name (field 2) may hold
// spaces and parentheses, so splitting starts after its last ')'. proc(5) numbers fields
// from 1; fields[i] is field i + 3.
std::vector<std::string> stat_fields() {
  const std::string stat = read_file("/proc/self/stat");
  const auto close = stat.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream ss(stat.substr(close + 1));
  for (std::string f; ss >> f;) fields.push_back(std::move(f));
  return fields;
}

std::optional<double> field(const std::vector<std::string>& fields, std::size_t proc5_number) {
  if (proc5_number < 3 || proc5_number - 3 >= fields.size()) return std::nullopt;
  try {
    return std::stod(fields[proc5_number - 3]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The boot time in seconds since the epoch ("btime" in /proc/stat).
std::optional<double> boot_time() {
  std::istringstream ss(read_file("/proc/stat"));
  for (std::string line; std::getline(ss, line);) {
    if (line.rfind("btime ", 0) == 0) {
      try {
        return std::stod(line.substr(6));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::optional<double> open_fds() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/fd", ec);
  if (ec) return std::nullopt;
  double n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return std::nullopt;
    ++n;
  }
  return n - 1;  // the iterator's own descriptor
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::optional<double> value) {
  if (!value) return;
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name);
  out.append(" ").append(type).append("\n").append(name).append(" ");
  out += prometheus_float(*value);
  out += '\n';
}

}  // namespace

std::string process_metrics_text() {
  const auto fields = stat_fields();
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::optional<double> cpu, start, rss, vsize, max_fds;
  if (auto u = field(fields, 14), s = field(fields, 15); u && s && ticks > 0) cpu = (*u + *s) / ticks;
  if (auto st = field(fields, 22), bt = boot_time(); st && bt && ticks > 0) start = *bt + *st / ticks;
  if (auto v = field(fields, 23)) vsize = *v;
  if (auto r = field(fields, 24); r && page > 0) rss = *r * page;
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    max_fds = static_cast<double>(lim.rlim_cur);

  std::string out;
  out.reserve(1024);
  family(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu);
  family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss);
  family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vsize);
  family(out, "process_open_fds", "gauge", "Number of open file descriptors.", open_fds());
  family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", max_fds);
  family(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
         start);
  return out;
}

}  // namespace iotd::metrics
