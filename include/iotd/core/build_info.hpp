// What `iotd --version` reports for bug reports: the version, the git commit the binary was
// built from (cmake/BuildInfo.cmake; "unknown" without git, "-dirty" with uncommitted
// changes), the compiler and the CMake build type. Defined only in the iotd executable.
#pragma once

#include <string_view>

namespace iotd {

struct BuildInfo {
  std::string_view version;     // 0.1.0
  std::string_view git_commit;  // 12c76d7e0d1a, 12c76d7e0d1a-dirty or unknown
  std::string_view compiler;    // GNU 12.2.0
  std::string_view build_type;  // Release
};

const BuildInfo& build_info();

}  // namespace iotd
