// model.safetensors.index.json on arbitrary bytes: written into a scratch
// copy of a sharded checkpoint (tests/fixtures/vit/p8_sharded), whose
// weights are then opened as a model folder's and every tensor viewed.
// visionrt::Error is the expected refusal; any other exception escapes and
// libFuzzer reports it.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "io/safetensors.hpp"
#include "visionrt/status.hpp"

namespace {

namespace fs = std::filesystem;

// A folder holding the fixture's shards, removed when the fuzzer exits.
struct ScratchFolder {
  fs::path path = fs::temp_directory_path() / ("visionrt_fuzz_index_" + std::to_string(::getpid()));
  ScratchFolder() {
    fs::create_directories(path);
    for (const auto& e : fs::directory_iterator(fs::path(VISIONRT_SOURCE_DIR) / "tests/fixtures/vit/p8_sharded"))
      if (e.path().extension() == ".safetensors") fs::copy_file(e.path(), path / e.path().filename());
  }
  ~ScratchFolder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ScratchFolder scratch;
  const fs::path& dir = scratch.path;
  std::ofstream(dir / "model.safetensors.index.json", std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  try {
    const auto store = visionrt::io::WeightStore::open_folder(dir.string());
    for (const std::string& name : store.names()) store.raw(name);
  } catch (const visionrt::Error&) {
  }
  return 0;
}
