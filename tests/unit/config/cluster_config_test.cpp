// IOTD_CLUSTER (issue 13, docs/architecture.md §21): off by default; on needs a server
// database (SQLite is single-instance).
#include <gtest/gtest.h>

#include "iotd/config/config.hpp"

namespace iotd::config {
namespace {

std::string error_of(std::vector<std::string> env) {
  try {
    parse_invocation({}, env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ClusterConfig, OffByDefault) { EXPECT_FALSE(parse_invocation({}, {}).config.cluster); }

TEST(ClusterConfig, OnWithAServerDatabase) {
  auto inv = parse_invocation({}, {"IOTD_CLUSTER=on", "IOTD_DATABASE_URL=postgresql://u:p@db:5432/iotd"});
  EXPECT_TRUE(inv.config.cluster);
  EXPECT_TRUE(parse_invocation({}, {"IOTD_CLUSTER=true", "IOTD_DATABASE_URL=mysql://u:p@db/iotd"}).config.cluster);
}

TEST(ClusterConfig, RefusedOnSqliteAndOnANonBoolean) {
  auto e = error_of({"IOTD_CLUSTER=on", "IOTD_DATABASE_URL=sqlite:///data/iotd.db"});
  EXPECT_NE(e.find("IOTD_CLUSTER"), std::string::npos) << e;
  EXPECT_NE(e.find("SQLite is single-instance"), std::string::npos) << e;
  EXPECT_NE(error_of({"IOTD_CLUSTER=maybe"}).find("IOTD_CLUSTER"), std::string::npos);
}

}  // namespace
}  // namespace iotd::config
