// The wire format of mpi/wire.h: values and arrays round-trip in order, and truncated, overlong
// or trailing input is an error naming its source.
#include "mpi/wire.h"

#include <string>
#include <vector>

#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

std::string error_of(const std::string& bytes) {
  try {
    WireReader r(bytes, "rank 7 message");
    r.get<int64_t>();
    r.get_array<float>();
    r.expect_done();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("wire: scalars and arrays round-trip in order", "[wire]") {
  WireWriter w;
  w.put<int64_t>(-5);
  w.put_array(std::vector<float>{1.5f, -2.0f, 3.25f});
  w.put_array(std::vector<int32_t>{});
  w.put<double>(0.125);
  w.put_array(std::vector<int32_t>{7, 8});
  // Independent size: 8 + (8 + 12) + 8 + 8 + (8 + 8).
  CHECK(w.bytes().size() == 60);
  WireReader r(w.bytes(), "test");
  CHECK(r.get<int64_t>() == -5);
  CHECK(r.get_array<float>() == std::vector<float>{1.5f, -2.0f, 3.25f});
  CHECK(r.get_array<int32_t>().empty());
  CHECK(r.get<double>() == 0.125);
  CHECK_FALSE(r.done());
  CHECK(r.get_array<int32_t>() == std::vector<int32_t>{7, 8});
  CHECK(r.done());
  r.expect_done();
}

TEST_CASE("wire: truncated, overlong and trailing input are errors naming the source", "[wire]") {
  WireWriter w;
  w.put<int64_t>(3);
  w.put_array(std::vector<float>{1, 2, 3});
  const std::string good = w.bytes();
  CHECK(error_of(good) == "(no error)");
  for (size_t cut : {size_t(0), size_t(5), size_t(8), size_t(15), good.size() - 1}) {
    CAPTURE(cut);
    const std::string e = error_of(good.substr(0, cut));
    CHECK(e.find("rank 7 message") != std::string::npos);
    CHECK(e.find("truncated") != std::string::npos);
  }
  // A count far beyond the buffer is refused before anything is allocated.
  WireWriter huge;
  huge.put<int64_t>(1);
  huge.put<uint64_t>(uint64_t(1) << 60);
  CHECK(error_of(huge.bytes()).find("overrun") != std::string::npos);
  const std::string trailing = error_of(good + "xy");
  CHECK(trailing.find("2 trailing bytes") != std::string::npos);
}
