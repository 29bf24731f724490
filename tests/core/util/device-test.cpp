// --device / --dtype flag parsing.
#include "core/util/device.h"

#include "support/safetensors-writer.h"
#include "support/catch.h"

using namespace kvsvd;
using namespace kvsvd_test;

TEST_CASE("--device values", "[device]") {
  CHECK(parse_device("cpu", true).kind == "cpu");
  CHECK(parse_device("CPU", false).index == -1);
  CHECK(parse_device("auto", false).kind == "cpu");
  CHECK(parse_device("auto", true).kind == "cuda");
  CHECK(parse_device("cuda", true).kind == "cuda");
  CHECK(parse_device("cuda", true).index == -1);
  const DeviceSpec d = parse_device("cuda:3", true);
  CHECK(d.kind == "cuda");
  CHECK(d.index == 3);

  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", ""}) {
    INFO(bad);
    const std::string msg = error_of([&] { parse_device(bad, true); });
    CHECK(contains(msg, "--device"));
    CHECK(contains(msg, std::string("'") + bad + "'"));
  }
  const std::string msg = error_of([] { parse_device("cuda:0", false); });
  CHECK(contains(msg, "cuda:0"));
  CHECK(contains(msg, "not available"));
}

TEST_CASE("--dtype values", "[device]") {
  CHECK(parse_dtype_name("float32") == "float32");
  CHECK(parse_dtype_name("fp32") == "float32");
  CHECK(parse_dtype_name("bf16") == "bfloat16");
  CHECK(parse_dtype_name("BFloat16") == "bfloat16");
  CHECK(parse_dtype_name("fp16") == "float16");
  CHECK(parse_dtype_name("half") == "float16");
  const std::string msg = error_of([] { parse_dtype_name("int8"); });
  CHECK(contains(msg, "--dtype"));
  CHECK(contains(msg, "int8"));
}
