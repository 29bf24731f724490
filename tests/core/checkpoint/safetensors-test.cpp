// Safetensors header validation: every corruption is refused with the file and tensor named.
#include "core/checkpoint/safetensors.h"

#include "support/safetensors-writer.h"
#include "support/catch.h"

using namespace kvsvd;
using namespace kvsvd_test;

namespace {

SafetensorsBuilder two_tensors() {
  SafetensorsBuilder b;
  b.add("a", "F32", {2, 3}, raw_bytes(std::vector<float>{1, 2, 3, 4, 5, 6}));
  b.add("b", "I64", {2}, raw_bytes(std::vector<int64_t>{7, -8}));
  return b;
}

// Writes `bytes` to DIR/name and returns the error raised when opening it.
std::string open_error(const TempDir& dir, const std::string& name, const std::string& bytes) {
  write_file(dir / name, bytes);
  return error_of([&] { SafetensorsFile f(dir / name); });
}

}  // namespace

TEST_CASE("a well-formed safetensors file is parsed and mapped lazily", "[safetensors]") {
  TempDir dir;
  SafetensorsBuilder b = two_tensors();
  b.add("empty", "BF16", {0, 4}, "");
  b.header["__metadata__"] = {{"format", "pt"}};
  b.write(dir / "m.safetensors");

  SafetensorsFile f(dir / "m.safetensors");
  REQUIRE(f.tensors().size() == 3);
  CHECK_FALSE(f.mapped());
  const TensorInfo* a = f.find("a");
  const TensorInfo* bi = f.find("b");
  REQUIRE(a != nullptr);
  REQUIRE(bi != nullptr);
  CHECK(f.find("__metadata__") == nullptr);
  CHECK(f.find("zzz") == nullptr);
  CHECK(a->dtype == DType::F32);
  CHECK(a->shape == std::vector<int64_t>{2, 3});
  CHECK(a->numel() == 6);
  CHECK(a->end - a->begin == 24);
  CHECK(bi->dtype == DType::I64);
  CHECK(f.find("empty")->numel() == 0);

  float av[6];
  std::memcpy(av, f.tensor_data(*a), sizeof av);
  CHECK(f.mapped());
  CHECK(av[0] == 1.0f);
  CHECK(av[5] == 6.0f);
  int64_t bv[2];
  std::memcpy(bv, f.tensor_data(*bi), sizeof bv);
  CHECK(bv[1] == -8);
  CHECK(f.data_size() == b.data.size());
}

TEST_CASE("dtype table names and sizes", "[safetensors]") {
  CHECK(std::string(dtype_name(DType::BF16)) == "BF16");
  CHECK(dtype_size(DType::BF16) == 2);
  CHECK(dtype_size(DType::F64) == 8);
  CHECK(dtype_size(DType::BOOL) == 1);
  CHECK(parse_safetensors_dtype("I16", "x") == DType::I16);
  const std::string msg = error_of([] { parse_safetensors_dtype("F8_E4M3", "src.json"); });
  CHECK(contains(msg, "src.json"));
  CHECK(contains(msg, "F8_E4M3"));
}

TEST_CASE("corrupt safetensors files are refused, naming file and tensor", "[safetensors]") {
  TempDir dir;
  const std::string file = "bad.safetensors";

  SECTION("file shorter than the header length field") {
    const std::string msg = open_error(dir, file, std::string(5, '\0'));
    CHECK(contains(msg, file));
    CHECK(contains(msg, "truncated"));
  }
  SECTION("truncated data region") {
    std::string bytes = two_tensors().bytes();
    bytes.resize(bytes.size() - 4);
    const std::string msg = open_error(dir, file, bytes);
    CHECK(contains(msg, file));
    CHECK(contains(msg, "'b'"));  // the last tensor now ends past the data region
  }
  SECTION("header length past the end of the file") {
    std::string bytes = two_tensors().bytes();
    bytes[0] = char(0xff);
    bytes[1] = char(0x7f);  // ~32 KB header in a ~100-byte file
    const std::string msg = open_error(dir, file, bytes);
    CHECK(contains(msg, file));
    CHECK(contains(msg, "past the end"));
  }
  SECTION("header length above the 100 MB bound") {
    std::string bytes = two_tensors().bytes();
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char(0xff);
    const std::string msg = open_error(dir, file, bytes);
    CHECK(contains(msg, file));
    CHECK(contains(msg, "limit"));
  }
  SECTION("malformed JSON header") {
    const std::string msg = open_error(dir, file, safetensors_file("{\"a\": {", ""));
    CHECK(contains(msg, file));
    CHECK(contains(msg, "JSON"));
  }
  SECTION("offsets past the end of the data region") {
    SafetensorsBuilder b = two_tensors();
    b.header["b"]["data_offsets"] = {24, 24 + 16 + 8};
    b.header["b"]["shape"] = {3};
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, file));
    CHECK(contains(msg, "'b'"));
    CHECK(contains(msg, "past the end"));
  }
  SECTION("overlapping tensors") {
    SafetensorsBuilder b = two_tensors();
    b.header["b"]["data_offsets"] = {16, 32};  // inside a's bytes [0, 24)
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, file));
    CHECK(contains(msg, "'a'"));
    CHECK(contains(msg, "'b'"));
    CHECK(contains(msg, "overlaps"));
  }
  SECTION("a tensor nested inside an earlier, longer one") {
    SafetensorsBuilder b;
    b.add("big", "F32", {4}, std::string(16, '\0'));
    b.add("x", "U8", {2}, "ab");
    b.add("y", "U8", {2}, "cd");
    b.header["x"]["data_offsets"] = {2, 4};
    b.header["y"]["data_offsets"] = {16, 18};
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, "'x'"));
    CHECK(contains(msg, "'big'"));
  }
  SECTION("byte length disagrees with shape x dtype size") {
    SafetensorsBuilder b = two_tensors();
    b.header["a"]["shape"] = {2, 2};
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, file));
    CHECK(contains(msg, "'a'"));
    CHECK(contains(msg, "byte length"));
  }
  SECTION("unknown dtype") {
    SafetensorsBuilder b = two_tensors();
    b.header["a"]["dtype"] = "F12";
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, file));
    CHECK(contains(msg, "'a'"));
    CHECK(contains(msg, "F12"));
  }
  SECTION("negative shape entry") {
    SafetensorsBuilder b = two_tensors();
    b.header["a"]["shape"] = {-2, -3};
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, file));
    CHECK(contains(msg, "'a'"));
  }
  SECTION("element count overflow") {
    SafetensorsBuilder b = two_tensors();
    b.header["a"]["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40};
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, file));
    CHECK(contains(msg, "'a'"));
    CHECK(contains(msg, "overflow"));
  }
  SECTION("begin after end") {
    SafetensorsBuilder b = two_tensors();
    b.header["a"]["data_offsets"] = {24, 0};
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, "'a'"));
    CHECK(contains(msg, "begin"));
  }
  SECTION("missing data_offsets") {
    SafetensorsBuilder b = two_tensors();
    b.header["a"].erase("data_offsets");
    const std::string msg = open_error(dir, file, b.bytes());
    CHECK(contains(msg, "'a'"));
    CHECK(contains(msg, "data_offsets"));
  }
  SECTION("duplicate tensor name") {
    const std::string a = R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
    const std::string dup = R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]})";
    const std::string msg = open_error(dir, file, safetensors_file("{" + a + "," + dup + "}", "xy"));
    CHECK(contains(msg, file));
    CHECK(contains(msg, "'a'"));
    CHECK(contains(msg, "twice"));
  }
  SECTION("missing file") {
    const std::string msg = error_of([&] { SafetensorsFile f(dir / "absent.safetensors"); });
    CHECK(contains(msg, "absent.safetensors"));
  }
}
