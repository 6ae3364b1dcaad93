// Fuzz target: the journal's frame reader (src/journal/journal.cpp): recovery at open and
// read() over a segment whose records come from the input. The first byte selects fix-ups
// so the fuzzer gets past the checks it cannot forge: bit 0 rewrites each record's XXH3
// checksum, bit 1 its seq (1, 2, ...). The rest is the segment body after a valid header.
// Checks, beyond "no crash, no leak, no UB": open() succeeds (a torn or corrupt tail is
// truncated, never fatal); read() returns exactly the frames recovery counted, in seq
// order; a frame appended afterwards reads back intact with the next seq.
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "iotd/journal/journal.hpp"

namespace {

namespace fs = std::filesystem;
using iotd::journal::Frame;
using iotd::journal::Journal;
using iotd::journal::JournalOptions;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_journal: %s\n", what);
  std::abort();
}

constexpr std::size_t kSegHeader = 48;
const char* kSegment = "00000000000000000001.seg";

JournalOptions options(const fs::path& dir) {
  JournalOptions o;
  o.dir = dir;
  o.fsync = iotd::journal::FsyncPolicy::off;
  return o;
}

// A directory in memory when /dev/shm exists (recovery fsyncs and renames), made once: a
// journal with one frame, whose identity file and segment header every run reuses.
struct Fixture {
  fs::path dir;
  std::string uuid_file;
  std::string header;

  Fixture() {
    spdlog::set_level(spdlog::level::off);  // recovery logs every truncation
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = base / ("iotd-fuzz-journal-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    {
      Journal j(options(dir));
      j.append("t", "p", 1, 0);
    }
    uuid_file = read(dir / "journal.uuid");
    header = read(dir / kSegment).substr(0, kSegHeader);
    if (header.size() != kSegHeader) fail("fixture: no segment header");
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// Record: magic u32 | len u32 | XXH3 u64 | seq u64 | ... (docs/architecture.md §4).
void fix_records(std::string& body, bool checksums, bool seqs) {
  std::size_t off = 0;
  std::uint64_t seq = 1;
  while (off + 24 <= body.size()) {
    char* p = body.data() + off;
    const std::size_t size = std::size_t{get_u32(p + 4)} + 8;
    if (size < 35 || size > body.size() - off) return;
    if (seqs) put_u64(p + 16, seq++);
    if (checksums) put_u64(p + 8, XXH3_64bits(p + 16, size - 16));
    off += size;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fx;
  if (size == 0) return 0;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  fix_records(body, data[0] & 1, data[0] & 2);

  std::error_code ec;
  fs::remove_all(fx.dir, ec);
  fs::create_directories(fx.dir);
  std::ofstream(fx.dir / "journal.uuid", std::ios::binary) << fx.uuid_file;
  std::ofstream(fx.dir / kSegment, std::ios::binary) << fx.header << body;

  Journal j(options(fx.dir));
  const std::uint64_t found = j.recovery().frames_found;
  if (j.recovery().quarantined_segments != 0) fail("the only segment was quarantined");
  if (j.last_seq() != found) fail("last_seq differs from the frames recovered");

  j.seek_after(0);
  std::vector<Frame> frames;
  while (j.read(frames, 1024, 1u << 20, std::chrono::milliseconds(0)) > 0) {
  }
  if (frames.size() != found) fail("read() returned a different number of frames than recovery found");
  for (std::size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].seq != i + 1) fail("frames out of seq order");
  }

  const std::string topic = "sensors/dev-1/data";
  const std::string payload(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 64));
  if (j.append(topic, payload, 42, 0) != iotd::journal::AppendResult::appended) fail("append after recovery failed");
  std::vector<Frame> more;
  j.read(more, 16, 1u << 20, std::chrono::milliseconds(0));
  if (more.size() != 1 || more[0].seq != found + 1 || more[0].topic != topic || more[0].payload != payload ||
      more[0].received_at_ms != 42) {
    fail("the frame appended after recovery did not read back intact");
  }
  return 0;
}
