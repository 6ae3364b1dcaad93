// docker-compose.yml validation: `docker-compose config -q` needs no Docker
// engine. Part of ctest so that CI counts it with everything else.
#include <gtest/gtest.h>

#include <algorithm>
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

const std::filesystem::path kSourceDir(IOTD_SOURCE_DIR);
const std::filesystem::path kComposeFile = kSourceDir / "docker-compose.yml";

// What `.env` gives compose in these tests: every variable docker-compose.yml requires
// (`${VAR:?message}`), with recognisable values.
const char* const kTestEnv =
    "POSTGRES_PASSWORD=test-pg-pw\n"
    "MARIADB_PASSWORD=test-maria-pw\n"
    "MARIADB_ROOT_PASSWORD=test-maria-root-pw\n"
    "GRAFANA_ADMIN_PASSWORD=test-grafana-pw\n";

// The profiles docker-compose.yml defines ("" is the default stack).
const std::vector<std::string> kProfiles{"", "mysql", "sqlite", "timescaledb"};

// `docker-compose --env-file ENV -f FILE [--profile P]... config [-q]`; stdout and stderr go
// to `log`. `env_file` empty: a file with kTestEnv next to `log`.
int compose_config(const std::filesystem::path& docker_compose, const std::filesystem::path& file,
                   const std::filesystem::path& log, const std::vector<std::string>& profiles = {},
                   bool quiet = true, std::filesystem::path env_file = {}) {
  if (env_file.empty()) {
    env_file = log.parent_path() / "test.env";
    std::ofstream(env_file) << kTestEnv;
  }
  std::vector<std::string> argv{docker_compose.string(), "--env-file", env_file.string(), "-f",
                                file.string()};
  for (const auto& profile : profiles) {
    if (profile.empty()) continue;
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

// A YAML list under `key` in `service`'s block of rendered `docker-compose config` output
// (`    key:` then `    - item` lines); quotes around plain scalars removed.
std::vector<std::string> rendered_list(const std::string& rendered, const std::string& service,
                                       const std::string& key) {
  std::vector<std::string> out;
  const std::string head = "\n  " + service + ":\n";
  const auto begin = rendered.find(head);
  if (begin == std::string::npos) return out;
  std::istringstream lines(rendered.substr(begin + head.size()));
  bool in_list = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("    ", 0) != 0) break;  // the service's block has ended
    if (!in_list) {
      in_list = line == "    " + key + ":";
      continue;
    }
    if (line.rfind("    - ", 0) != 0) break;
    std::string item = line.substr(6);
    if (item.size() >= 2 && item.front() == '\'' && item.back() == '\'') {
      item = item.substr(1, item.size() - 2);
    }
    out.push_back(item);
  }
  return out;
}

// The default stack and each profile, one `config -q` each.
TEST(DockerCompose, EveryProfileValidates) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  for (const auto& profile : kProfiles) {
    TempDir dir;
    const int status = compose_config(docker_compose, kComposeFile, dir / "log", {profile});
    EXPECT_EQ(Process::exit_code(status), 0)
        << "profile '" << profile << "': " << Process::describe(status) << "\n" << slurp(dir / "log");
  }
}

// The committed .env.example is a working .env: it sets every variable the file requires.
TEST(DockerCompose, EnvExampleSetsEveryRequiredVariable) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  const std::string compose = slurp(kComposeFile);
  const std::string example = slurp(kSourceDir / ".env.example");
  std::size_t required = 0;
  for (auto at = compose.find("${"); at != std::string::npos; at = compose.find("${", at + 2)) {
    const auto end = compose.find_first_of(":}", at);
    ASSERT_NE(end, std::string::npos);
    // The one allowed default: build metadata for `iotd --version`, not a setting or secret.
    if (compose.compare(at, end - at + 2, "${IOTD_GIT_COMMIT:-") == 0) continue;
    ASSERT_EQ(compose.compare(end, 2, ":?"), 0)
        << "a variable without `:?` (a silent default): " << compose.substr(at, 60);
    ++required;
    const std::string name = compose.substr(at + 2, end - at - 2);
    EXPECT_NE(("\n" + example).find("\n" + name + "="), std::string::npos) << name << " not in .env.example";
  }
  EXPECT_GE(required, 4u);
  TempDir dir;
  const int status = compose_config(docker_compose, kComposeFile, dir / "log",
                                    {"mysql", "sqlite", "timescaledb"}, true, kSourceDir / ".env.example");
  EXPECT_EQ(Process::exit_code(status), 0) << Process::describe(status) << "\n" << slurp(dir / "log");
}

// No silent default: without a password in .env, compose refuses, naming the variable.
TEST(DockerCompose, MissingPasswordFailsValidation) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  std::string env = kTestEnv;
  env.erase(0, env.find('\n') + 1);  // drop POSTGRES_PASSWORD
  std::ofstream(dir / "partial.env") << env;
  const int status = compose_config(docker_compose, kComposeFile, dir / "log", {}, true, dir / "partial.env");
  EXPECT_NE(Process::exit_code(status), 0) << Process::describe(status);
  EXPECT_NE(slurp(dir / "log").find("set POSTGRES_PASSWORD in .env"), std::string::npos) << slurp(dir / "log");
}

// The default stack's simulator runs iotd-sim against the compose broker, with flags the
// real iotd-sim accepts: run with them (broker swapped for a closed local port), it fails
// to connect (exit 1), not on its command line (exit 2).
TEST(DockerCompose, SimulatorCommandIsAValidIotdSimCommandLine) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  const int status = compose_config(docker_compose, kComposeFile, dir / "log", {}, /*quiet=*/false);
  ASSERT_EQ(Process::exit_code(status), 0) << Process::describe(status) << "\n" << slurp(dir / "log");
  const std::string rendered = slurp(dir / "log");
  EXPECT_EQ(rendered_list(rendered, "simulator", "entrypoint"),
            std::vector<std::string>{"/usr/local/bin/iotd-sim"})
      << rendered;
  std::vector<std::string> args = rendered_list(rendered, "simulator", "command");
  const auto url = std::find(args.begin(), args.end(), "--url");
  ASSERT_TRUE(url != args.end() && url + 1 != args.end()) << rendered;
  EXPECT_EQ(*(url + 1), "tcp://mosquitto:1883");
  *(url + 1) = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  args.insert(args.begin(), IOTD_SIM_BINARY);
  const int sim = run_process(args, {.env = {}, .cwd = {}, .log_file = dir / "sim.log"}, 30s);
  EXPECT_EQ(Process::exit_code(sim), 1) << slurp(dir / "sim.log");
  EXPECT_NE(slurp(dir / "sim.log").find("cannot connect"), std::string::npos) << slurp(dir / "sim.log");
}

// The rendered config (anchors merged, `$$` unescaped) gives each iotd service its database.
TEST(DockerCompose, RenderedConfigNamesEachDatabase) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  const int status = compose_config(docker_compose, kComposeFile, dir / "log",
                                    {"mysql", "sqlite", "timescaledb"}, /*quiet=*/false);
  ASSERT_EQ(Process::exit_code(status), 0) << Process::describe(status) << "\n" << slurp(dir / "log");
  const std::string rendered = slurp(dir / "log");
  // The passwords come from the env file, into the server and into iotd's URL alike.
  EXPECT_EQ(rendered_env(rendered, "iotd", "IOTD_DATABASE_URL"),
            "postgresql://iotd:test-pg-pw@postgres:5432/iotd")
      << rendered;
  EXPECT_EQ(rendered_env(rendered, "postgres", "POSTGRES_PASSWORD"), "test-pg-pw") << rendered;
  EXPECT_EQ(rendered_env(rendered, "iotd-mysql", "IOTD_DATABASE_URL"),
            "mysql://iotd:test-maria-pw@mysql:3306/iotd")
      << rendered;
  EXPECT_EQ(rendered_env(rendered, "mysql", "MARIADB_PASSWORD"), "test-maria-pw") << rendered;
  EXPECT_EQ(rendered_env(rendered, "mysql", "MARIADB_ROOT_PASSWORD"), "test-maria-root-pw") << rendered;
  EXPECT_EQ(rendered_env(rendered, "iotd-timescaledb", "IOTD_DATABASE_URL"),
            "postgresql://iotd:test-pg-pw@timescaledb:5432/iotd")
      << rendered;
  EXPECT_EQ(rendered_env(rendered, "grafana", "GF_SECURITY_ADMIN_PASSWORD"), "test-grafana-pw") << rendered;
  EXPECT_EQ(rendered_env(rendered, "iotd-sqlite", "IOTD_DATABASE_URL"),
            "sqlite:////var/lib/iotd/iotd.db")
      << rendered;
  // Every iotd service has its own instance id (one iotd per journal directory and MQTT
  // session; docs/scaling.md §2).
  EXPECT_EQ(rendered_env(rendered, "iotd", "IOTD_INSTANCE_ID"), "iotd") << rendered;
  EXPECT_EQ(rendered_env(rendered, "iotd-mysql", "IOTD_INSTANCE_ID"), "iotd-mysql") << rendered;
  EXPECT_EQ(rendered_env(rendered, "iotd-timescaledb", "IOTD_INSTANCE_ID"), "iotd-timescaledb") << rendered;
}

// `service`'s block in rendered `docker-compose config` output (its lines indented by four
// or more spaces after `  service:`); empty when it is missing.
std::string service_block(const std::string& rendered, const std::string& service) {
  const std::string head = "\n  " + service + ":\n";
  const auto begin = rendered.find(head);
  if (begin == std::string::npos) return {};
  std::string block;
  std::istringstream lines(rendered.substr(begin + head.size()));
  for (std::string line; std::getline(lines, line) && line.rfind("    ", 0) == 0;) block += line + "\n";
  return block;
}

// The default stack (no profile) runs the monitoring and the simulator, each with a health
// check (or one disabled on purpose), and starts every service only once what it needs is
// healthy; the database variants stay behind their profiles.
TEST(DockerCompose, DefaultStackRunsMonitoringAndSimulatorOnHealthyDependencies) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  const int status = compose_config(docker_compose, kComposeFile, dir / "log", {}, /*quiet=*/false);
  ASSERT_EQ(Process::exit_code(status), 0) << Process::describe(status) << "\n" << slurp(dir / "log");
  const std::string rendered = slurp(dir / "log");
  for (const char* service : {"mosquitto", "postgres", "iotd", "simulator", "prometheus", "grafana"}) {
    const std::string block = service_block(rendered, service);
    ASSERT_FALSE(block.empty()) << service << " missing:\n" << rendered;
    EXPECT_EQ(block.find("\n    profiles:"), std::string::npos) << service << " is behind a profile";
    EXPECT_NE(block.find("    healthcheck:\n"), std::string::npos) << service << " has no health check";
  }
  for (const char* service : {"mysql", "iotd-mysql", "iotd-sqlite", "timescaledb", "iotd-timescaledb"})
    EXPECT_NE(service_block(rendered, service).find("    profiles:\n"), std::string::npos) << service;
  for (const char* service : {"iotd", "simulator", "prometheus", "grafana"})
    EXPECT_NE(service_block(rendered, service).find("condition: service_healthy"), std::string::npos) << service;
  EXPECT_EQ(rendered.find("condition: service_started"), std::string::npos) << rendered;
  EXPECT_NE(service_block(rendered, "prometheus").find("docker/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml"),
            std::string::npos);
  EXPECT_NE(service_block(rendered, "grafana").find("docker/grafana/provisioning:/etc/grafana/provisioning"),
            std::string::npos);
}

// Proves the check above can fail: a copy whose iotd service points at SQLite renders a
// different IOTD_DATABASE_URL, and the other services' values are not mistaken for iotd's.
TEST(DockerCompose, RenderedConfigCheckSeesAChangedUrl) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  std::string changed = slurp(kComposeFile);
  const auto at = changed.find("IOTD_DATABASE_URL: postgresql://");
  ASSERT_NE(at, std::string::npos) << "docker-compose.yml does not name the PostgreSQL URL";
  changed.replace(at, changed.find('\n', at) - at, "IOTD_DATABASE_URL: sqlite:////var/lib/iotd/other.db");
  std::ofstream(dir / "docker-compose.yml") << changed;

  const int status =
      compose_config(docker_compose, dir / "docker-compose.yml", dir / "log", {}, /*quiet=*/false);
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
