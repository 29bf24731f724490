// Checkpoint directories (single file and sharded index) and loading tensors into ATen.
#include "core/checkpoint/checkpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include "core/checkpoint/tensor-load.h"
#include "support/safetensors-writer.h"
#include "support/catch.h"

using namespace kvsvd;
using namespace kvsvd_test;

namespace {

// Hand-written bit patterns, independent of any conversion code: value -> encoding.
const std::vector<float> kValues = {1.0f, -2.0f, 0.5f, 1.5f, -0.25f, 0.0f};
const std::vector<uint16_t> kBf16 = {0x3F80, 0xC000, 0x3F00, 0x3FC0, 0xBE80, 0x0000};
const std::vector<uint16_t> kF16 = {0x3C00, 0xC000, 0x3800, 0x3E00, 0xB400, 0x0000};

void write_config(const TempDir& dir, const nlohmann::json& cfg = llama_config_json()) {
  write_file(dir / "config.json", cfg.dump(2));
}

// DIR with config.json and model.safetensors holding the same 2x3 values as F32, F16, BF16.
void write_single(const TempDir& dir) {
  write_config(dir);
  SafetensorsBuilder b;
  b.add("w.f32", "F32", {2, 3}, raw_bytes(kValues));
  b.add("w.f16", "F16", {2, 3}, raw_bytes(kF16));
  b.add("w.bf16", "BF16", {2, 3}, raw_bytes(kBf16));
  b.add(layer_tensor_name(1, "self_attn.k_proj.weight"), "BF16", {3, 2}, raw_bytes(kBf16));
  b.write(dir / "model.safetensors");
}

// Two shards plus an index; returns the index JSON so tests can corrupt it.
nlohmann::json write_sharded(const TempDir& dir) {
  write_config(dir);
  SafetensorsBuilder s1, s2;
  s1.add("embed", "BF16", {2, 3}, raw_bytes(kBf16));
  s1.add("norm", "F32", {6}, raw_bytes(kValues));
  s2.add("head", "F16", {3, 2}, raw_bytes(kF16));
  s1.write(dir / "model-00001-of-00002.safetensors");
  s2.write(dir / "model-00002-of-00002.safetensors");
  nlohmann::json index = {{"metadata", {{"total_size", 36}}},
                          {"weight_map",
                           {{"embed", "model-00001-of-00002.safetensors"},
                            {"norm", "model-00001-of-00002.safetensors"},
                            {"head", "model-00002-of-00002.safetensors"}}}};
  write_file(dir / "model.safetensors.index.json", index.dump());
  return index;
}

std::vector<float> to_floats(const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

TEST_CASE("layer tensor names follow the Hugging Face layout", "[checkpoint]") {
  CHECK(layer_tensor_name(3, "self_attn.k_proj.weight") == "model.layers.3.self_attn.k_proj.weight");
  CHECK(layer_tensor_name(0, "mlp.down_proj.weight") == "model.layers.0.mlp.down_proj.weight");
}

TEST_CASE("single-file checkpoint: headers, config and exact dtype round trips", "[checkpoint]") {
  TempDir dir;
  write_single(dir);
  Checkpoint ck = Checkpoint::open(dir.path + "/");  // a trailing slash is harmless
  CHECK(ck.dir() == dir.path);
  CHECK(ck.config().hidden_size == 64);
  CHECK(ck.config_text() == llama_config_json().dump(2));
  CHECK(ck.shard_paths() == std::vector<std::string>{dir / "model.safetensors"});
  CHECK(ck.tensor_names().size() == 4);
  CHECK(ck.has("w.bf16"));
  CHECK_FALSE(ck.has("nope"));
  CHECK(ck.info("w.f16").dtype == DType::F16);

  for (const char* name : {"w.f32", "w.f16", "w.bf16"}) {
    INFO(name);
    at::Tensor t = load_tensor(ck, name, at::kFloat, at::kCPU, {2, 3});
    CHECK(t.scalar_type() == at::kFloat);
    CHECK(t.sizes() == at::IntArrayRef({2, 3}));
    CHECK(to_floats(t) == kValues);
  }
  // To reduced precision and back: all values are exact in bf16 and f16.
  CHECK(to_floats(load_tensor(ck, "w.f32", at::kBFloat16, at::kCPU)) == kValues);
  CHECK(load_tensor(ck, "w.f32", at::kBFloat16, at::kCPU).scalar_type() == at::kBFloat16);
  CHECK(to_floats(load_tensor(ck, "w.bf16", at::kHalf, at::kCPU)) == kValues);

  // F32 -> F32 must still copy: writing into the result cannot reach the read-only mapping.
  at::Tensor a = load_tensor(ck, "w.f32", at::kFloat, at::kCPU);
  CHECK(a.data_ptr() != static_cast<const void*>(ck.data(ck.info("w.f32"))));
  a.fill_(7.0f);
  CHECK(to_floats(load_tensor(ck, "w.f32", at::kFloat, at::kCPU)) == kValues);

  // Moves keep the mapping valid.
  Checkpoint moved = std::move(ck);
  CHECK(to_floats(load_tensor(moved, layer_tensor_name(1, "self_attn.k_proj.weight"), at::kFloat,
                              at::kCPU, {3, 2})) == kValues);
}

TEST_CASE("misaligned tensors load correctly", "[checkpoint]") {
  TempDir dir;
  write_config(dir);
  SafetensorsBuilder b;
  b.add("pad", "U8", {1}, "x");  // pushes the next tensor to an odd offset
  b.add("w", "F32", {6}, raw_bytes(kValues));
  b.write(dir / "model.safetensors");
  Checkpoint ck = Checkpoint::open(dir.path);
  REQUIRE(reinterpret_cast<uintptr_t>(ck.data(ck.info("w"))) % 4 != 0);
  CHECK(to_floats(load_tensor(ck, "w", at::kFloat, at::kCPU)) == kValues);
}

TEST_CASE("sharded checkpoint through model.safetensors.index.json", "[checkpoint]") {
  TempDir dir;
  write_sharded(dir);
  Checkpoint ck = Checkpoint::open(dir.path);
  REQUIRE(ck.shard_paths().size() == 2);
  CHECK(ck.shard_paths()[0] == dir / "model-00001-of-00002.safetensors");
  CHECK(ck.info("embed").shard == 0);
  CHECK(ck.info("norm").shard == 0);
  CHECK(ck.info("head").shard == 1);
  CHECK(ck.tensor_names() == std::vector<std::string>{"embed", "head", "norm"});
  CHECK(to_floats(load_tensor(ck, "embed", at::kFloat, at::kCPU, {2, 3})) == kValues);
  CHECK(to_floats(load_tensor(ck, "norm", at::kFloat, at::kCPU, {6})) == kValues);
  CHECK(to_floats(load_tensor(ck, "head", at::kFloat, at::kCPU, {3, 2})) == kValues);

  // A shard reached through a symlink that stays inside the directory is fine.
  REQUIRE(::rename((dir / "model-00002-of-00002.safetensors").c_str(),
                   (dir / "blob-2").c_str()) == 0);
  REQUIRE(::symlink("blob-2", (dir / "model-00002-of-00002.safetensors").c_str()) == 0);
  Checkpoint linked = Checkpoint::open(dir.path);
  CHECK(to_floats(load_tensor(linked, "head", at::kFloat, at::kCPU, {3, 2})) == kValues);
}

TEST_CASE("checkpoint errors name the directory, file, tensor or key", "[checkpoint]") {
  TempDir dir;

  SECTION("missing directory") {
    const std::string msg = error_of([&] { Checkpoint::open(dir / "no-such-model"); });
    CHECK(contains(msg, dir / "no-such-model"));
  }
  SECTION("a file instead of a directory") {
    write_file(dir / "plain", "x");
    const std::string msg = error_of([&] { Checkpoint::open(dir / "plain"); });
    CHECK(contains(msg, dir / "plain"));
    CHECK(contains(msg, "not a directory"));
  }
  SECTION("unreadable directory") {
    write_single(dir);
    REQUIRE(::chmod(dir.path.c_str(), 0) == 0);
    if (::geteuid() == 0) {
      // root reads through permissions; the other sections still exercise the error path
      INFO("running as root: permission bits are not enforced");
      CHECK_NOTHROW(Checkpoint::open(dir.path));
    } else {
      const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
      CHECK(contains(msg, dir.path));
    }
    ::chmod(dir.path.c_str(), 0700);
  }
  SECTION("missing config.json") {
    SafetensorsBuilder().add("w", "F32", {1}, std::string(4, '\0')).write(dir / "model.safetensors");
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, dir.path));
    CHECK(contains(msg, "config.json"));
  }
  SECTION("no weights") {
    write_config(dir);
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, dir.path));
    CHECK(contains(msg, "model.safetensors"));
  }
  SECTION("bad config key surfaces with the config path") {
    nlohmann::json cfg = llama_config_json();
    cfg.erase("vocab_size");
    write_config(dir, cfg);
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, dir / "config.json"));
    CHECK(contains(msg, "vocab_size"));
  }
  SECTION("missing tensor") {
    write_single(dir);
    Checkpoint ck = Checkpoint::open(dir.path);
    const std::string msg = error_of([&] { ck.info("lm_head.weight"); });
    CHECK(contains(msg, "lm_head.weight"));
    CHECK(contains(msg, dir.path));
    const std::string msg2 = error_of([&] { load_tensor(ck, "lm_head.weight", at::kFloat, at::kCPU); });
    CHECK(contains(msg2, "lm_head.weight"));
  }
  SECTION("shape disagreeing with the expected shape") {
    write_single(dir);
    Checkpoint ck = Checkpoint::open(dir.path);
    const std::string msg = error_of([&] { load_tensor(ck, "w.bf16", at::kFloat, at::kCPU, {3, 2}); });
    CHECK(contains(msg, "w.bf16"));
    CHECK(contains(msg, dir / "model.safetensors"));
    CHECK(contains(msg, "[3, 2]"));
    CHECK(contains(msg, "[2, 3]"));
  }
  SECTION("integer tensor requested as weights") {
    write_config(dir);
    SafetensorsBuilder().add("ids", "I32", {2}, std::string(8, '\0')).write(dir / "model.safetensors");
    Checkpoint ck = Checkpoint::open(dir.path);
    const std::string msg = error_of([&] { load_tensor(ck, "ids", at::kFloat, at::kCPU); });
    CHECK(contains(msg, "ids"));
    CHECK(contains(msg, "I32"));
  }
  SECTION("corrupt single file names the file") {
    write_config(dir);
    write_file(dir / "model.safetensors", "abc");
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, dir / "model.safetensors"));
  }
  SECTION("index entry whose shard lacks the tensor") {
    nlohmann::json index = write_sharded(dir);
    index["weight_map"]["ghost"] = "model-00002-of-00002.safetensors";
    write_file(dir / "model.safetensors.index.json", index.dump());
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, "ghost"));
    CHECK(contains(msg, "model-00002-of-00002.safetensors"));
  }
  SECTION("index shard name escaping the directory with '../'") {
    nlohmann::json index = write_sharded(dir);
    index["weight_map"]["head"] = "../model-00002-of-00002.safetensors";
    write_file(dir / "model.safetensors.index.json", index.dump());
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, "model.safetensors.index.json"));
    CHECK(contains(msg, "../model-00002-of-00002.safetensors"));
    CHECK(contains(msg, "'head'"));
  }
  SECTION("index shard name that is an absolute path") {
    nlohmann::json index = write_sharded(dir);
    index["weight_map"]["head"] = dir / "model-00002-of-00002.safetensors";
    write_file(dir / "model.safetensors.index.json", index.dump());
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, "'head'"));
    CHECK(contains(msg, "plain file name"));
  }
  SECTION("index shard that is a symlink resolving outside the directory") {
    TempDir other;
    SafetensorsBuilder().add("head", "F16", {3, 2}, raw_bytes(kF16)).write(other / "outside.safetensors");
    nlohmann::json index = write_sharded(dir);
    REQUIRE(::symlink((other / "outside.safetensors").c_str(), (dir / "link.safetensors").c_str()) == 0);
    index["weight_map"]["head"] = "link.safetensors";
    write_file(dir / "model.safetensors.index.json", index.dump());
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, "link.safetensors"));
    CHECK(contains(msg, "outside"));
  }
  SECTION("index naming a shard that does not exist") {
    nlohmann::json index = write_sharded(dir);
    index["weight_map"]["head"] = "model-00003-of-00002.safetensors";
    write_file(dir / "model.safetensors.index.json", index.dump());
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, "model-00003-of-00002.safetensors"));
    CHECK(contains(msg, "'head'"));
  }
  SECTION("malformed index") {
    write_sharded(dir);
    write_file(dir / "model.safetensors.index.json", "{\"weight_map\": ");
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, "model.safetensors.index.json"));
  }
}
