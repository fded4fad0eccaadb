// Replays every saved fuzz input (fuzz/corpus, fuzz/regressions) through the
// fuzz properties, so a crash found once stays fixed. A broken property aborts.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "harness.hpp"

namespace okq::fuzz {
namespace {

namespace fs = std::filesystem;

std::size_t replay(const std::string& name, void (*property)(const std::uint8_t*, std::size_t)) {
  std::size_t count = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(OKQ_FUZZ_DIR) / kind / name;
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      SCOPED_TRACE(entry.path().string());
      property(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++count;
    }
  }
  return count;
}

TEST(FuzzCorpus, LineCodecPropertiesHoldOnEverySavedInput) {
  EXPECT_GE(replay("line", line_codec), 6u);
}

TEST(FuzzCorpus, ClassicCodecPropertiesHoldOnEverySavedInput) {
  EXPECT_GE(replay("classic", classic_codec), 3u);
}

TEST(FuzzCorpus, ProxyHeaderPropertiesHoldOnEverySavedInput) {
  EXPECT_GE(replay("proxy", proxy_header), 6u);
}

}  // namespace
}  // namespace okq::fuzz
