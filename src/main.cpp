// iotd: args -> config -> App -> run -> exit code.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "iotd/app/app.hpp"
#include "iotd/config/config.hpp"
#include "iotd/core/build_info.hpp"
#include "iotd/journal/journal_owner.hpp"

extern char** environ;

namespace {

// glibc returns the free top of a thread's heap to the kernel (madvise) once it exceeds
// 128 KiB, and the next batch faults the pages back in: at a steady 2,000 msg/s over 10,000
// devices that was about a fifth of iotd's CPU (perf: madvise 9 %, page faults 9 %,
// BENCHMARKS.md). Keeping up to 8 MiB per heap, and serving blocks below 1 MiB from the
// heaps rather than fresh mmaps, removes it. GLIBC_TUNABLES, when set, decides instead.
void tune_malloc() {
  if (const char* t = std::getenv("GLIBC_TUNABLES"); t && *t) return;
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace iotd;
  tune_malloc();
  config::Invocation inv;
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
    inv = config::parse_invocation(args, env);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iotd: configuration error: %s\n", e.what());
    return 2;
  }
  if (inv.command == "help") {
    std::cout << config::help_text();
    return 0;
  }
  if (inv.command == "version") {
    const auto& b = build_info();
    std::cout << "iotd " << b.version << "\ncommit: " << b.git_commit << "\ncompiler: " << b.compiler
              << "\nbuild: " << b.build_type << "\n";
    return 0;
  }
  if (inv.command == "config" && !inv.config_output.empty()) {
    std::cout << (inv.config_output == "example" ? config::example_config_file() : config::markdown_table());
    return 0;
  }
  if (inv.command == "check-config" || inv.command == "config") return app::run_check_config(inv);
  try {
    // Before any thread exists (setup_logging starts spdlog's flusher): every thread
    // inherits the mask, so SIGTERM/SIGINT reach only wait_for_shutdown()'s sigwait and
    // never kill the process with the default action on another thread.
    if (inv.command != "migrate" && inv.command != "replay-journal") app::block_shutdown_signals();
    app::setup_logging(inv.config);
    for (const auto& w : inv.warnings) spdlog::warn("{}", w);
    if (inv.command == "migrate") return app::run_migrate(inv.config);
    if (inv.command == "replay-journal") return app::run_replay_journal(inv);
    app::App service(inv.config);
    return service.wait_for_shutdown();
  } catch (const journal::JournalOwnerError& e) {  // a configuration mistake (issue 13)
    spdlog::critical("cannot start: {}", e.what());
    spdlog::shutdown();
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    spdlog::shutdown();
    return 1;
  }
}
