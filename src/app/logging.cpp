#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "iotd/app/app.hpp"
#include "iotd/core/log.hpp"

namespace iotd::app {

// Lines carry ts, level, module, msg and device_id (iotd/core/log.hpp, docs/architecture.md
// §18). IOTD_LOG_FILE adds a file sink: rotated at IOTD_LOG_MAX_BYTES (0: never) with
// IOTD_LOG_FILES older files kept (iotd.log -> iotd.1.log ... iotd.N.log, spdlog's scheme).
void setup_logging(const config::Config& cfg) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!cfg.log_file.empty()) {
    try {
      if (cfg.log_max_bytes == 0)
        sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.log_file));
      else
        sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
            cfg.log_file, static_cast<std::size_t>(cfg.log_max_bytes), static_cast<std::size_t>(cfg.log_files)));
    } catch (const spdlog::spdlog_ex& e) {
      throw config::ConfigError("IOTD_LOG_FILE=\"" + cfg.log_file + "\": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("iotd", sinks.begin(), sinks.end());
  logger->set_formatter(cfg.log_format == "json" ? log::json_formatter() : log::text_formatter());
  logger->set_level(spdlog::level::from_str(cfg.log_level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

}  // namespace iotd::app
