// docker-compose.yml validation (PLATFORM §8): `docker-compose config -q` needs no Docker
// engine. Part of ctest so that CI counts it with everything else.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kComposeFile = std::filesystem::path(IOTD_SOURCE_DIR) / "docker-compose.yml";

// `docker-compose -f FILE [--profile P] config [-q]`; stdout and stderr go to `log`.
int compose_config(const std::filesystem::path& docker_compose, const std::filesystem::path& file,
                   const std::filesystem::path& log, const std::string& profile = {},
                   bool quiet = true) {
  std::vector<std::string> argv{docker_compose.string(), "-f", file.string()};
  if (!profile.empty()) {
    argv.push_back("--profile");
    argv.push_back(profile);
  }
  argv.push_back("config");
  if (quiet) argv.push_back("-q");
  return run_process(std::move(argv), {.env = {}, .cwd = {}, .log_file = log}, 60s);
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The value of `key` in the environment of `service` in rendered `docker-compose config`
// output (services at two spaces, environment entries at six: `      KEY: value`); empty
// when the service or the key is missing.
std::string rendered_env(const std::string& rendered, const std::string& service,
                         const std::string& key) {
  const std::string head = "\n  " + service + ":\n";
  auto begin = rendered.find(head);
  if (begin == std::string::npos) return {};
  begin += head.size();
  std::size_t end = begin;
  // The service's block ends at the next line indented by fewer than four spaces.
  while (end < rendered.size()) {
    const auto nl = rendered.find('\n', end);
    if (nl == std::string::npos) {
      end = rendered.size();
      break;
    }
    if (rendered.compare(nl + 1, 4, "    ") != 0 && nl + 1 < rendered.size()) {
      end = nl;
      break;
    }
    end = nl + 1;
  }
  const std::string block = rendered.substr(begin, end - begin);
  const std::string needle = "\n      " + key + ": ";
  const auto at = ("\n" + block).find(needle);
  if (at == std::string::npos) return {};
  const auto value_at = at + needle.size() - 1;  // -1: the "\n" prepended above
  const auto value_end = block.find('\n', value_at);
  return block.substr(value_at, value_end == std::string::npos ? std::string::npos : value_end - value_at);
}

TEST(DockerCompose, ShippedFileValidates) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  const int status = compose_config(docker_compose, kComposeFile, dir / "log");
  EXPECT_EQ(Process::exit_code(status), 0)
      << Process::describe(status) << "\n" << slurp(dir / "log");
}

TEST(DockerCompose, MysqlProfileValidates) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  const int status = compose_config(docker_compose, kComposeFile, dir / "log", "mysql");
  EXPECT_EQ(Process::exit_code(status), 0)
      << Process::describe(status) << "\n" << slurp(dir / "log");
}

// The rendered config (anchors merged, `$$` unescaped) gives each iotd service its database.
TEST(DockerCompose, RenderedConfigNamesEachDatabase) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  const int status =
      compose_config(docker_compose, kComposeFile, dir / "log", "mysql", /*quiet=*/false);
  ASSERT_EQ(Process::exit_code(status), 0) << Process::describe(status) << "\n" << slurp(dir / "log");
  const std::string rendered = slurp(dir / "log");
  EXPECT_EQ(rendered_env(rendered, "iotd", "IOTD_DATABASE_URL"),
            "postgresql://iotd:iotd@postgres:5432/iotd")
      << rendered;
  EXPECT_EQ(rendered_env(rendered, "iotd-mysql", "IOTD_DATABASE_URL"),
            "mysql://iotd:iotd@mysql:3306/iotd")
      << rendered;
  EXPECT_EQ(rendered_env(rendered, "iotd-sqlite", "IOTD_DATABASE_URL"),
            "sqlite:////var/lib/iotd/iotd.db")
      << rendered;
  // Every iotd service has its own instance id (one iotd per journal directory and MQTT
  // session, DESIGN §8).
  EXPECT_EQ(rendered_env(rendered, "iotd", "IOTD_INSTANCE_ID"), "iotd") << rendered;
  EXPECT_EQ(rendered_env(rendered, "iotd-mysql", "IOTD_INSTANCE_ID"), "iotd-mysql") << rendered;
}

// Proves the check above can fail: a copy whose iotd service points at SQLite renders a
// different IOTD_DATABASE_URL, and the other services' values are not mistaken for iotd's.
TEST(DockerCompose, RenderedConfigCheckSeesAChangedUrl) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  std::string changed = slurp(kComposeFile);
  const std::string url = "IOTD_DATABASE_URL: postgresql://iotd:iotd@postgres:5432/iotd";
  const auto at = changed.find(url);
  ASSERT_NE(at, std::string::npos) << "docker-compose.yml does not name the PostgreSQL URL";
  changed.replace(at, url.size(), "IOTD_DATABASE_URL: sqlite:////var/lib/iotd/other.db");
  std::ofstream(dir / "docker-compose.yml") << changed;

  const int status =
      compose_config(docker_compose, dir / "docker-compose.yml", dir / "log", "", /*quiet=*/false);
  ASSERT_EQ(Process::exit_code(status), 0) << Process::describe(status) << "\n" << slurp(dir / "log");
  const std::string rendered = slurp(dir / "log");
  EXPECT_EQ(rendered_env(rendered, "iotd", "IOTD_DATABASE_URL"), "sqlite:////var/lib/iotd/other.db")
      << rendered;
  EXPECT_EQ(rendered_env(rendered, "no-such-service", "IOTD_DATABASE_URL"), "");
}

// Proves ShippedFileValidates can fail: the same file with an unknown key in the iotd service.
TEST(DockerCompose, UnknownKeyFailsValidation) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  const std::string original = slurp(kComposeFile);
  const std::string anchor = "\n  iotd:\n";
  const auto at = original.find(anchor);
  ASSERT_NE(at, std::string::npos) << "docker-compose.yml has no `iotd` service";
  std::string broken = original;
  broken.insert(at + anchor.size(), "    not_a_compose_key: 1\n");
  std::ofstream(dir / "docker-compose.yml") << broken;

  const int status = compose_config(docker_compose, dir / "docker-compose.yml", dir / "log");
  EXPECT_NE(Process::exit_code(status), 0) << Process::describe(status);
  EXPECT_NE(slurp(dir / "log").find("not_a_compose_key"), std::string::npos) << slurp(dir / "log");
}

}  // namespace
}  // namespace iotd::test
