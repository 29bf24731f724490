// What a checkpoint's files say is not trusted: sizes that overflow, headers that promise more
// than the file holds, shard names and symlinks that leave the model directory.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <limits>

#include "core/checkpoint/checkpoint.h"
#include "core/checkpoint/llama-config.h"
#include "core/checkpoint/safetensors.h"
#include "support/safetensors-writer.h"
#include "support/catch.h"

using namespace kvsvd;
using namespace kvsvd_test;

namespace {

// DIR with config.json, two valid shards (tensors a, b | c) and an index; returns the index.
nlohmann::json write_model(const TempDir& dir) {
  write_file(dir / "config.json", llama_config_json().dump());
  SafetensorsBuilder().add("a", "U8", {4}, "abcd").add("b", "U8", {2}, "ef").write(dir / "s1.safetensors");
  SafetensorsBuilder().add("c", "U8", {3}, "ghi").write(dir / "s2.safetensors");
  nlohmann::json index = {{"weight_map", {{"a", "s1.safetensors"}, {"b", "s1.safetensors"},
                                          {"c", "s2.safetensors"}}}};
  write_file(dir / "model.safetensors.index.json", index.dump());
  return index;
}

std::string open_with_shard(const TempDir& dir, const std::string& shard) {
  nlohmann::json index = write_model(dir);
  index["weight_map"]["c"] = shard;
  write_file(dir / "model.safetensors.index.json", index.dump());
  return error_of([&] { Checkpoint::open(dir.path); });
}

}  // namespace

TEST_CASE("distrust: shard names that are not plain file names are refused", "[distrust]") {
  TempDir dir;
  ::mkdir((dir / "sub").c_str(), 0700);
  SafetensorsBuilder().add("c", "U8", {3}, "ghi").write(dir / "sub/s3.safetensors");
  const std::string base = dir.path.substr(dir.path.rfind('/') + 1);
  for (const std::string& shard : std::vector<std::string>{
           "sub/s3.safetensors", "./s2.safetensors", "..", ".", "", "..\\s2.safetensors",
           "../" + base + "/s2.safetensors"}) {
    CAPTURE(shard);
    const std::string msg = open_with_shard(dir, shard);
    CHECK(contains(msg, "model.safetensors.index.json"));
    CHECK(contains(msg, "'c'"));
    CHECK(contains(msg, "plain file name"));
  }
}

TEST_CASE("distrust: symlinks are followed only while they stay inside the directory", "[distrust]") {
  TempDir dir, other;
  SafetensorsBuilder().add("c", "U8", {3}, "xyz").write(other / "evil.safetensors");
  write_model(dir);
  REQUIRE(::symlink("s2.safetensors", (dir / "inside.safetensors").c_str()) == 0);
  REQUIRE(::symlink((other / "evil.safetensors").c_str(), (dir / "out.safetensors").c_str()) == 0);
  // A relative link that climbs out and back in lands inside: accepted.
  const std::string base = dir.path.substr(dir.path.rfind('/') + 1);
  REQUIRE(::symlink(("../" + base + "/s2.safetensors").c_str(), (dir / "round.safetensors").c_str()) == 0);

  SECTION("inside") {
    CHECK(open_with_shard(dir, "inside.safetensors").empty());
    CHECK(open_with_shard(dir, "round.safetensors").empty());
    const Checkpoint ck = Checkpoint::open(dir.path);
    const TensorInfo& c = ck.info("c");
    CHECK(std::string(reinterpret_cast<const char*>(ck.data(c)), 3) == "ghi");
  }
  SECTION("outside, through the index") {
    const std::string msg = open_with_shard(dir, "out.safetensors");
    CHECK(contains(msg, "out.safetensors"));
    CHECK(contains(msg, "outside"));
  }
  SECTION("outside, as the single model.safetensors") {
    ::unlink((dir / "model.safetensors.index.json").c_str());
    REQUIRE(::symlink((other / "evil.safetensors").c_str(), (dir / "model.safetensors").c_str()) == 0);
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, "model.safetensors"));
    CHECK(contains(msg, "outside"));
  }
  SECTION("a directory symlink cannot smuggle a shard in either") {
    REQUIRE(::symlink(other.path.c_str(), (dir / "elsewhere").c_str()) == 0);
    const std::string msg = open_with_shard(dir, "elsewhere/evil.safetensors");
    CHECK(contains(msg, "plain file name"));
  }
}

TEST_CASE("distrust: a safetensors header cannot promise more than the file holds", "[distrust]") {
  const std::string src = "/m/model.safetensors";
  auto header_error = [&](const nlohmann::json& h, uint64_t data_size) {
    return error_of([&] { parse_safetensors_header(h.dump(), data_size, src); });
  };
  using nlohmann::json;
  SECTION("shape [2^40, 2^40]: overflow caught, not wrapped into a small count") {
    const std::string msg = header_error(
        {{"t", {{"dtype", "F32"}, {"shape", {uint64_t(1) << 40, uint64_t(1) << 40}},
                {"data_offsets", {0, 0}}}}}, 0);
    CHECK(contains(msg, "'t'"));
    CHECK(contains(msg, "overflow"));
  }
  SECTION("three dims that each fit but whose product wraps to 0 mod 2^64") {
    const std::string msg = header_error(
        {{"t", {{"dtype", "U8"}, {"shape", {uint64_t(1) << 22, uint64_t(1) << 21, uint64_t(1) << 21}},
                {"data_offsets", {0, 0}}}}}, 0);
    CHECK(contains(msg, "overflow"));
  }
  SECTION("numel x dtype size past 2^63") {
    const std::string msg = header_error(
        {{"t", {{"dtype", "F64"}, {"shape", {uint64_t(1) << 61}}, {"data_offsets", {0, 8}}}}}, 8);
    CHECK(contains(msg, "'t'"));
    CHECK(contains(msg, "too large"));
  }
  SECTION("offsets inside the region but the shape asks for more bytes") {
    const std::string msg = header_error(
        {{"t", {{"dtype", "F32"}, {"shape", {1000000}}, {"data_offsets", {0, 16}}}}}, 16);
    CHECK(contains(msg, "byte length 16 != 4000000"));
  }
  SECTION("offsets past a data region of 16 bytes") {
    const std::string msg = header_error(
        {{"t", {{"dtype", "U8"}, {"shape", {4096}}, {"data_offsets", {0, 4096}}}}}, 16);
    CHECK(contains(msg, "past the end of the data region (16 bytes)"));
  }
  SECTION("an offset of 2^64 - 1 is not wrapped") {
    const uint64_t big = std::numeric_limits<uint64_t>::max();
    const std::string msg = header_error(
        {{"t", {{"dtype", "U8"}, {"shape", {1}}, {"data_offsets", {big, big}}}}}, 16);
    CHECK(contains(msg, "past the end"));
  }
  SECTION("a header length bigger than the file is refused before any allocation") {
    TempDir dir;
    std::string bytes(8, '\0');
    bytes[6] = 1;  // 2^48 bytes of header in an 8-byte file
    write_file(dir / "x.safetensors", bytes);
    const std::string msg = error_of([&] { SafetensorsFile f(dir / "x.safetensors"); });
    CHECK(contains(msg, "x.safetensors"));
    CHECK(contains(msg, "limit"));
  }
}

TEST_CASE("distrust: config.json sizes that would overflow tensor shapes are refused", "[distrust]") {
  auto err = [](const nlohmann::json& j) {
    return error_of([&] { parse_llama_config(j.dump(), "/m/config.json"); });
  };
  nlohmann::json j = llama_config_json();
  SECTION("2^40 heads of head_dim 2^40") {
    j["num_attention_heads"] = int64_t(1) << 40;
    j["num_key_value_heads"] = int64_t(1) << 40;
    j["head_dim"] = int64_t(1) << 40;
    const std::string msg = err(j);
    CHECK(contains(msg, "/m/config.json"));
    CHECK(contains(msg, "num_attention_heads"));
  }
  SECTION("heads x head_dim past 2^31 while each fits") {
    j["num_attention_heads"] = 65536;
    j["num_key_value_heads"] = 65536;
    j["head_dim"] = 65536;
    const std::string msg = err(j);
    CHECK(contains(msg, "x head_dim"));
  }
  SECTION("vocab_size, hidden_size, max_position_embeddings beyond 2^31") {
    for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "max_position_embeddings"}) {
      nlohmann::json k = llama_config_json();
      k[key] = int64_t(1) << 33;
      if (std::string(key) == "hidden_size") k["head_dim"] = 16;
      CAPTURE(key);
      CHECK(contains(err(k), key));
    }
  }
  SECTION("the largest real configs still load") {
    j["vocab_size"] = 262144;
    j["hidden_size"] = 16384;
    j["intermediate_size"] = 53248;
    j["num_attention_heads"] = 128;
    j["num_key_value_heads"] = 8;
    j["max_position_embeddings"] = 10485760;
    CHECK(err(j).empty());
  }
}

TEST_CASE("distrust: numbers that overflow a double are malformed JSON, naming the file",
          "[distrust]") {
  // Found by fuzz-llama-config ("rms_norm_eps": 1e666...): nlohmann throws out_of_range 406,
  // which used to escape as a bare library exception. Replayed from tests/fuzz/regressions/.
  const std::string reg = std::string(KVSVD_SOURCE_DIR) + "/tests/fuzz/regressions/";
  for (const char* f : {"llama-config/number-overflow-min.json",
                        "llama-config/number-overflow-found.json"}) {
    CAPTURE(f);
    const std::string msg = error_of([&] { load_llama_config(reg + f); });
    CHECK(contains(msg, reg + f));
    CHECK(contains(msg, "malformed JSON"));
  }
  SECTION("safetensors header") {
    const std::string path = reg + "safetensors/number-overflow.safetensors";
    const std::string msg = error_of([&] { SafetensorsFile f(path); });
    CHECK(contains(msg, path));
    CHECK(contains(msg, "malformed safetensors JSON header"));
  }
  SECTION("index") {
    TempDir dir;
    write_model(dir);
    write_file(dir / "model.safetensors.index.json",
               R"({"metadata": {"total_size": 1e999}, "weight_map": {"a": "s1.safetensors"}})");
    const std::string msg = error_of([&] { Checkpoint::open(dir.path); });
    CHECK(contains(msg, "model.safetensors.index.json"));
    CHECK(contains(msg, "malformed JSON"));
  }
}
