// docker-compose.yml validation (PLATFORM §8): `docker-compose config -q` needs no Docker
// engine. Part of ctest so that CI counts it with everything else.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "support/process.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kComposeFile = std::filesystem::path(IOTD_SOURCE_DIR) / "docker-compose.yml";

int compose_config(const std::filesystem::path& docker_compose, const std::filesystem::path& file,
                   const std::filesystem::path& log) {
  return run_process({docker_compose.string(), "-f", file.string(), "config", "-q"},
                     {.env = {}, .cwd = {}, .log_file = log}, 60s);
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(DockerCompose, ShippedFileValidates) {
  IOTD_REQUIRE_PROGRAM(docker_compose, "docker-compose");
  TempDir dir;
  const int status = compose_config(docker_compose, kComposeFile, dir / "log");
  EXPECT_EQ(Process::exit_code(status), 0)
      << Process::describe(status) << "\n" << slurp(dir / "log");
}

// Proves the check above can fail: the same file with an unknown key in the iotd service.
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
