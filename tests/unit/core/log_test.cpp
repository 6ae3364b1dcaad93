// Unit tests for iotd/core/log.hpp: the JSON and text line formats and the thread-local
// module and device scopes they read.
#include "iotd/core/log.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace iotd::log {
namespace {

// A logger that formats into a string, as the process's sinks do.
struct Capture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
  explicit Capture(std::unique_ptr<spdlog::formatter> f) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_formatter(std::move(f));
    logger->set_level(spdlog::level::trace);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out.str());
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
};

TEST(LogScopes, ModuleDefaultsToMainAndScopesNestAndRestore) {
  EXPECT_EQ(current_module(), "main");
  EXPECT_EQ(current_device_id(), "");
  {
    ModuleScope writer("writer");
    EXPECT_EQ(current_module(), "writer");
    {
      DeviceScope d("dev-1");
      ModuleScope inner("mqtt");
      EXPECT_EQ(current_module(), "mqtt");
      EXPECT_EQ(current_device_id(), "dev-1");
    }
    EXPECT_EQ(current_module(), "writer");
    EXPECT_EQ(current_device_id(), "");
  }
  EXPECT_EQ(current_module(), "main");
}

TEST(LogScopes, EachThreadHasItsOwnContext) {
  ModuleScope here("writer");
  std::string seen;
  std::thread([&] { seen = std::string(current_module()); }).join();
  EXPECT_EQ(seen, "main");
  EXPECT_EQ(current_module(), "writer");
}

TEST(JsonLog, EveryLineIsAnObjectWithTheStableFields) {
  Capture c(json_formatter());
  {
    ModuleScope m("writer");
    c.logger->info("stored {} rows", 3);
    DeviceScope d("dev-7");
    c.logger->warn("rejected");
  }
  c.logger->error("plain");
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 3u);
  std::vector<nlohmann::json> j;
  for (const auto& l : lines) j.push_back(nlohmann::json::parse(l));  // throws if not JSON

  EXPECT_EQ(j[0]["level"], "info");
  EXPECT_EQ(j[0]["module"], "writer");
  EXPECT_EQ(j[0]["msg"], "stored 3 rows");
  EXPECT_FALSE(j[0].contains("device_id")) << "no device in scope, no field";
  EXPECT_TRUE(std::regex_match(j[0]["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << j[0]["ts"];
  EXPECT_TRUE(j[0]["thread"].is_number_integer());

  EXPECT_EQ(j[1]["level"], "warn");
  EXPECT_EQ(j[1]["device_id"], "dev-7");
  EXPECT_EQ(j[2]["level"], "error");
  EXPECT_EQ(j[2]["module"], "main");
  // Field order is part of the format (people read it, too).
  EXPECT_EQ(lines[1].rfind(R"({"ts":")", 0), 0u);
  EXPECT_LT(lines[1].find(R"("level")"), lines[1].find(R"("module")"));
  EXPECT_LT(lines[1].find(R"("module")"), lines[1].find(R"("msg")"));
  EXPECT_LT(lines[1].find(R"("msg")"), lines[1].find(R"("device_id")"));
}

TEST(JsonLog, EscapesQuotesBackslashesControlsAndInvalidUtf8) {
  Capture c(json_formatter());
  const std::string nasty = std::string("say \"hi\"\\ \n\t\r") + '\x01' + '\x7f' + " caf\xc3\xa9 \xe2\x82\xac " +
                            "\xff\xc3(" + " \xed\xa0\x80 \xf0\x9f\x98\x80";
  {
    DeviceScope d("dev\"1");
    c.logger->info("{}", nasty);
  }
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 1u) << "newlines in the message stay inside one line";
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["msg"], std::string("say \"hi\"\\ \n\t\r") + '\x01' + '\x7f' + " caf\xc3\xa9 \xe2\x82\xac " +
                          "\xef\xbf\xbd\xef\xbf\xbd(" + " \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xf0\x9f\x98\x80");
  EXPECT_EQ(j["device_id"], "dev\"1");
}

TEST(TextLog, ShowsTimeLevelModuleMessageAndDevice) {
  Capture c(text_formatter());
  {
    ModuleScope m("mqtt");
    DeviceScope d("dev-2");
    c.logger->warn("bad payload");
  }
  c.logger->info("ready");
  const auto lines = c.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn  \[mqtt\] bad payload device_id=dev-2)")))
      << lines[0];
  EXPECT_TRUE(std::regex_match(lines[1], std::regex(R"(\S+ info  \[main\] ready)"))) << lines[1];
}

}  // namespace
}  // namespace iotd::log
