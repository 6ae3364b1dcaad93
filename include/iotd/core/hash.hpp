// 64-bit hashing (XXH3) used for dedup keys, the transport-dedup window and checksums.
#pragma once

#include <cstdint>
#include <string_view>

namespace iotd {

std::uint64_t hash64(std::string_view bytes, std::uint64_t seed = 0);

}  // namespace iotd
