// The command line and the logs, through the real binary (issue 11 item 6): check-config,
// --version, --help against the README table and the example file, migrate end to end,
// JSON log lines with module and device_id, and the rotating log file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/iotd_process.hpp"
#include "support/process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

TEST(CheckConfig, ValidConfigPrintsEverySettingWithItsSourceAndMasksSecrets) {
  TempDir dir;
  std::ofstream(dir / "iotd.conf") << "mqtt_qos = 0\nhttp_listen = 127.0.0.1:9000\n";
  std::ofstream(dir / "client.key") << "not really a key\n";
  auto r = run_iotd(dir.path(), {"check-config", "--config", (dir / "iotd.conf").string(), "--http-listen", "127.0.0.1:9001"},
                {{"IOTD_DATABASE_URL", "postgresql://iotd:s3cret-pw@db.example:5432/iotd"},
                 {"IOTD_ADMIN_KEY", "admin-key-0123456789-secret"},
                 {"IOTD_MQTT_PASSWORD", "broker-secret"},
                 {"IOTD_MQTT_KEY_FILE", (dir / "client.key").string()}});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("IOTD_HTTP_LISTEN=127.0.0.1:9001  # flag\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("IOTD_MQTT_QOS=0  # file\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("IOTD_DATABASE_URL=postgresql://iotd:***@db.example:5432/iotd  # env\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("IOTD_ADMIN_KEY=***  # env\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("IOTD_MQTT_PASSWORD=***  # env\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("IOTD_JOURNAL_FSYNC=interval  # default\n"), std::string::npos) << r.out;
  // A key file's path is not a secret (the key in it is).
  EXPECT_NE(r.out.find("IOTD_MQTT_KEY_FILE=" + (dir / "client.key").string() + "  # env\n"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("s3cret-pw"), std::string::npos);
  EXPECT_EQ(r.out.find("admin-key-0123456789-secret"), std::string::npos);
  EXPECT_EQ(r.out.find("broker-secret"), std::string::npos);
}

TEST(CheckConfig, EverySettingIsListedOnceAndConfigIsAnAlias) {
  TempDir dir;
  auto check = run_iotd(dir.path(), {"check-config"});
  ASSERT_EQ(check.code, 0) << check.out;
  auto alias = run_iotd(dir.path(), {"config"});
  ASSERT_EQ(alias.code, 0) << alias.out;
  EXPECT_EQ(check.out, alias.out);
  auto table = run_iotd(dir.path(), {"config", "--markdown"}).out;
  std::set<std::string> in_table, in_check;
  std::smatch m;
  for (const auto& l : lines_of(table))
    if (std::regex_search(l, m, std::regex(R"(^\| `(IOTD_[A-Z0-9_]+)`)"))) in_table.insert(m[1]);
  for (const auto& l : lines_of(check.out))
    if (std::regex_search(l, m, std::regex(R"(^(IOTD_[A-Z0-9_]+)=.*  # (default|file|env|flag)$)"))) {
      EXPECT_TRUE(in_check.insert(m[1]).second) << "listed twice: " << m[1];
    }
  EXPECT_FALSE(in_table.empty());
  EXPECT_EQ(in_check, in_table);
}

TEST(CheckConfig, InvalidSettingsExitTwoNamingTheSetting) {
  TempDir dir;
  struct Case {
    std::map<std::string, std::string> env;
    std::string names;
  };
  const std::vector<Case> cases{
      {{{"IOTD_DATABASE_URL", "oracle://u:pw@h/db"}}, "IOTD_DATABASE_URL"},
      {{{"IOTD_DATABASE_URL", "postgresql://u:pw@h:notaport/db"}}, "IOTD_DATABASE_URL"},
      {{{"IOTD_MQTT_TOPICS", "sensors/{device_id}/#/x"}}, "IOTD_MQTT_TOPICS"},
      {{{"IOTD_ALIASES", "temp"}}, "IOTD_ALIASES"},
      {{{"IOTD_LOG_MAX_BYTES", "12 parsecs"}}, "IOTD_LOG_MAX_BYTES"},
      {{{"IOTD_LOG_FILES", "-1"}}, "IOTD_LOG_FILES"},
      {{{"IOTD_MQTT_CA_FILE", "/nonexistent/ca.pem"}}, "IOTD_MQTT_CA_FILE"},
      {{{"IOTD_ADMIN_KEY", "short-secret"}}, "IOTD_ADMIN_KEY"},
  };
  for (const auto& c : cases) {
    auto r = run_iotd(dir.path(), {"check-config"}, c.env);
    EXPECT_EQ(r.code, 2) << c.names << ": " << r.out;
    EXPECT_NE(r.out.find("configuration error: " + c.names), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("pw@"), std::string::npos) << "a password in an error message: " << r.out;
    EXPECT_EQ(r.out.find("short-secret"), std::string::npos) << r.out;
  }
}

TEST(Version, NamesVersionCommitCompilerAndBuildType) {
  TempDir dir;
  auto r = run_iotd(dir.path(), {"--version"});
  ASSERT_EQ(r.code, 0) << r.out;
  auto l = lines_of(r.out);
  ASSERT_EQ(l.size(), 4u) << r.out;
  EXPECT_TRUE(std::regex_match(l[0], std::regex(R"(iotd \d+\.\d+\.\d+)"))) << l[0];
  std::smatch m;
  ASSERT_TRUE(std::regex_match(l[1], m, std::regex(R"(commit: ([0-9a-f]{12}|unknown)(-dirty)?)"))) << l[1];
  EXPECT_TRUE(std::regex_match(l[2], std::regex(R"(compiler: (GNU|Clang) \d+\.\d+.*)"))) << l[2];
  EXPECT_TRUE(std::regex_match(l[3], std::regex(R"(build: \w*)"))) << l[3];
  // Built from this checkout: the commit is one of its history (HEAD, or older if the
  // binary has not been rebuilt since).
  const auto git = find_program("git");
  if (m[1] != "unknown" && git && std::filesystem::exists(std::filesystem::path(IOTD_SOURCE_DIR) / ".git")) {
    ProcessOptions po;
    int status = run_process({git->string(), "-C", IOTD_SOURCE_DIR, "cat-file", "-e", std::string(m[1]) + "^{commit}"},
                             po, 10s);
    EXPECT_EQ(Process::exit_code(status), 0) << "commit " << m[1] << " is not in " << IOTD_SOURCE_DIR;
  }
}

TEST(Help, ListsEveryCommandAndEverySettingOfTheReadmeTableAndTheExampleFile) {
  TempDir dir;
  auto help = run_iotd(dir.path(), {"--help"});
  ASSERT_EQ(help.code, 0);
  for (const char* cmd : {"run", "migrate", "check-config", "config"})
    EXPECT_NE(help.out.find(std::string("  ") + cmd + " "), std::string::npos) << cmd;
  const auto readme = read_file(std::filesystem::path(IOTD_SOURCE_DIR) / "README.md");
  const auto example = read_file(std::filesystem::path(IOTD_SOURCE_DIR) / "config/iotd.example.conf");
  std::set<std::string> in_readme, in_example, in_help;
  std::smatch m;
  for (const auto& l : lines_of(readme))
    if (std::regex_search(l, m, std::regex(R"(^\| `(IOTD_[A-Z0-9_]+)` \| `--)"))) in_readme.insert(m[1]);
  for (const auto& l : lines_of(example))
    if (std::regex_search(l, m, std::regex(R"(^#? ?([a-z0-9_]+) =)"))) {
      std::string env = "IOTD_";
      for (char c : std::string(m[1])) env += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      in_example.insert(env);
    }
  for (const auto& l : lines_of(help.out))
    if (std::regex_search(l, m, std::regex(R"(^  --[a-z0-9-]+ / (IOTD_[A-Z0-9_]+)$)"))) in_help.insert(m[1]);
  EXPECT_FALSE(in_help.empty());
  EXPECT_EQ(in_help, in_readme) << "README settings table vs --help";
  EXPECT_EQ(in_help, in_example) << "config/iotd.example.conf vs --help";
}

// `iotd migrate` end to end on a fresh SQLite file.
TEST(Migrate, FreshSqliteFileGetsTheLatestSchemaAndASecondRunIsANoOp) {
  TempDir dir;
  const auto db = dir / "fresh" / "iotd.db";
  std::size_t latest = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(IOTD_SOURCE_DIR) / "migrations/sqlite"))
    if (e.path().extension() == ".sql") ++latest;
  ASSERT_GT(latest, 0u);

  auto first = run_iotd(dir.path(), {"migrate"}, {{"IOTD_DATABASE_URL", sqlite_url(db)}});
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("applied " + std::to_string(latest) + " migration(s); schema version " +
                           std::to_string(latest)),
            std::string::npos)
      << first.out;
  EXPECT_EQ(sqlite_count(db, "SELECT MAX(version) FROM schema_migrations"), static_cast<std::int64_t>(latest));
  EXPECT_EQ(sqlite_count(db, "SELECT COUNT(*) FROM schema_migrations"), static_cast<std::int64_t>(latest));
  EXPECT_EQ(sqlite_count(db, "SELECT COUNT(*) FROM messages"), 0);
  EXPECT_EQ(sqlite_count(db, "SELECT COUNT(*) FROM commands"), 0) << "the latest migration's table";

  auto second = run_iotd(dir.path(), {"migrate"}, {{"IOTD_DATABASE_URL", sqlite_url(db)}});
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_NE(second.out.find("applied 0 migration(s); schema version " + std::to_string(latest)), std::string::npos)
      << second.out;
  EXPECT_EQ(sqlite_count(db, "SELECT COUNT(*) FROM schema_migrations"), static_cast<std::int64_t>(latest));
}

TEST(Migrate, UnreachableDatabaseIsAClearErrorWithoutThePassword) {
  TempDir dir;
  const auto port = free_tcp_port();  // nothing listens there
  const auto url = "postgresql://iotd:migrate-pw@127.0.0.1:" + std::to_string(port) + "/iotd";
  auto r = run_iotd(dir.path(), {"migrate"}, {{"IOTD_DATABASE_URL", url}});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("cannot start"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("127.0.0.1"), std::string::npos) << "names where it tried: " << r.out;
  EXPECT_EQ(r.out.find("migrate-pw"), std::string::npos) << r.out;
}

// The JSON log format from the real binary: a bad MQTT message gives a parseable line that
// names the writer module and the device.
TEST(JsonLogs, ARejectedMessageLogsALineWithModuleAndDeviceId) {
  TempDir dir;
  MosquittoServer broker;
  IotdProcess p({dir / "iotd", broker.url(), {{"IOTD_LOG_FORMAT", "json"}}});
  ASSERT_TRUE(eventually([&] { return p.get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
      << p.log();
  auto sent = publish_all(broker.url(), "cli-json-pub", {{"sensors/dev-bad-1/data", "{\"temperature\": \"hot\""}}, 1);
  ASSERT_EQ(sent.acknowledged, 1u);

  nlohmann::json found;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& l : lines_of(p.log())) {
          if (l.empty() || l[0] != '{') continue;
          auto j = nlohmann::json::parse(l, nullptr, false);
          if (!j.is_discarded() && j.value("device_id", "") == "dev-bad-1") {
            found = j;
            return true;
          }
        }
        return false;
      },
      10s))
      << p.log();
  EXPECT_EQ(found["module"], "writer");
  EXPECT_EQ(found["level"], "info");
  EXPECT_NE(found["msg"].get<std::string>().find("rejected 1 message"), std::string::npos) << found.dump();
  EXPECT_TRUE(found["ts"].is_string());
  p.stop();
  // Every line the process wrote is one JSON object with the stable fields.
  std::set<std::string> modules;
  for (const auto& l : lines_of(p.log())) {
    auto j = nlohmann::json::parse(l, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << l;
    for (const char* f : {"ts", "level", "module", "msg"}) EXPECT_TRUE(j.contains(f)) << f << " in " << l;
    modules.insert(j["module"].get<std::string>());
  }
  EXPECT_TRUE(modules.count("main")) << "the ready line comes from main";
  EXPECT_TRUE(modules.count("mqtt")) << "the MQTT connection line comes from mqtt";
}

// Every long-lived thread carries a name (/proc/<pid>/task/<tid>/comm), which `top -H`,
// `ps -L`, gdb and `perf report --sort comm` show: the writer, decoder, HTTP and MQTT threads
// apart from each other and from Paho's own.
TEST(Threads, IotdNamesItsThreads) {
  TempDir dir;
  MosquittoServer broker;
  IotdProcess p({dir / "iotd", broker.url(), {}});
  ASSERT_TRUE(eventually([&] { return p.get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
      << p.log();
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(p.pid()) + "/task")) {
    std::string name;
    std::getline(std::ifstream(task.path() / "comm"), name);
    names.insert(name);
  }
  std::string all;
  for (const auto& n : names) all += n + " ";
  for (const char* want : {"iotd-writer", "iotd-decode", "iotd-mqtt", "iotd-mqtt-pub", "iotd-monitor", "iotd-live",
                           "iotd-commands", "iotd-walckpt", "iotd-jsync", "MQTTAsync_rcv"})
    EXPECT_EQ(names.count(want), 1u) << want << " in " << all;
  EXPECT_GE(names.count("iotd-http"), 1u) << all;  // one per IOTD_HTTP_IO_THREADS
}

// IOTD_LOG_FILE with a small IOTD_LOG_MAX_BYTES rotates and keeps at most IOTD_LOG_FILES
// old files.
TEST(LogFile, RotatesAtMaxBytesAndKeepsAtMostTheConfiguredFiles) {
  TempDir dir;
  const auto logs = dir / "logs";
  std::filesystem::create_directories(logs);
  IotdProcess p({dir / "iotd", "",
                 {{"IOTD_LOG_FILE", (logs / "iotd.log").string()},
                  {"IOTD_LOG_MAX_BYTES", "2KiB"},
                  {"IOTD_LOG_FILES", "2"},
                  {"IOTD_LOG_LEVEL", "debug"}}});
  // Every rejected HTTP ingest logs a line; enough of them fill several 2 KiB files.
  for (int i = 0; i < 60; ++i)
    p.post("/api/v1/ingest", R"({"device_id": "dev-rot", "temperature": "not a number )" + std::string(40, 'x') + "\"}",
           {{"X-API-Key", kTestAdminKey}, {"Content-Type", "application/json"}});
  p.stop();
  std::set<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(logs)) {
    files.insert(e.path().filename().string());
    EXPECT_LE(std::filesystem::file_size(e.path()), 2048u + 1024u) << e.path();
  }
  EXPECT_EQ(files, (std::set<std::string>{"iotd.log", "iotd.1.log", "iotd.2.log"}))
      << "rotated twice at least, and no more than 2 old files kept; log:\n" << p.log();
  EXPECT_NE(read_file(logs / "iotd.log").find("[main]"), std::string::npos) << "same format as stderr";
}

}  // namespace
}  // namespace iotd::test
