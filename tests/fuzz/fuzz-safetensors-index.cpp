// Fuzz target: model.safetensors.index.json of a sharded checkpoint. The model folder holds
// config.json, two small valid shards, a symlink to a shard outside the folder and a
// sub-folder; the fuzz input is the index. Accepted indexes must only name shards that resolve
// inside the folder, and every listed tensor's bytes must lie inside its shard.
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/checkpoint/checkpoint.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;
namespace fs = std::filesystem;

namespace {

// A valid safetensors file holding F32 tensors of the given names, each of shape [2, 3].
void write_shard(const fs::path& path, const std::vector<std::string>& names) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t off = 0;
  for (const auto& n : names) {
    h[n] = {{"dtype", "F32"}, {"shape", {2, 3}}, {"data_offsets", {off, off + 24}}};
    off += 24;
  }
  const std::string text = h.dump();
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out.put(char((len >> (8 * i)) & 0xff));
  out << text << std::string(size_t(off), '\x01');
}

struct Model {
  fs::path dir;
  std::string dir_real;
  Model() {
    const fs::path root = fuzz::scratch_dir() / "index";
    fs::remove_all(root);
    dir = root / "model";
    fs::create_directories(dir / "sub");
    fs::create_directories(root / "outside");
    fs::copy_file(fs::path(KVSVD_SOURCE_DIR) / "assets/models/sotu-llama-tiny/config.json",
                  dir / "config.json");
    write_shard(dir / "model-00001-of-00002.safetensors", {"a", "b"});
    write_shard(dir / "model-00002-of-00002.safetensors", {"c"});
    write_shard(dir / "sub/inner.safetensors", {"d"});
    write_shard(root / "outside/evil.safetensors", {"e"});
    fs::create_symlink(root / "outside/evil.safetensors", dir / "link-out.safetensors");
    fs::create_symlink("model-00002-of-00002.safetensors", dir / "link-in.safetensors");
    char buf[PATH_MAX];
    if (!::realpath(dir.c_str(), buf)) std::abort();
    dir_real = buf;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Model model;
  const std::string index = fuzz::write_file(model.dir / "model.safetensors.index.json", data,
                                             size);
  fuzz::expect_ok_or_error([&] {
    const Checkpoint ck = Checkpoint::open(model.dir.string());
    for (const std::string& shard : ck.shard_paths()) {
      char buf[PATH_MAX];
      KVSVD_FUZZ_ASSERT(::realpath(shard.c_str(), buf) != nullptr);
      KVSVD_FUZZ_ASSERT(std::string(buf).rfind(model.dir_real + "/", 0) == 0);
    }
    volatile uint8_t sink = 0;
    for (const std::string& name : ck.tensor_names()) {
      const TensorInfo& t = ck.info(name);
      KVSVD_FUZZ_ASSERT(t.shard >= 0 && size_t(t.shard) < ck.shard_paths().size());
      const uint8_t* p = ck.data(t);
      if (t.end > t.begin) sink = sink + p[0] + p[t.end - t.begin - 1];
    }
    (void)sink;
  });
  return 0;
}
