// Dataset files are untrusted input: every malformed file is a kvsvd::Error naming the file (and
// line), never a bare library exception. Inputs found by fuzz-dataset are replayed from
// tests/fuzz/regressions/dataset/.
#include <string>

#include "core/data/dataset.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

const std::string kRegressions = std::string(KVSVD_SOURCE_DIR) + "/tests/fuzz/regressions/dataset/";

template <typename Fn>
std::string kvsvd_error(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("distrust: a number that overflows a double is malformed JSON, naming the file",
          "[data][distrust]") {
  const std::string ids = kRegressions + "number-overflow.json";  // [[1,2,3],[1e999]]
  std::string msg = kvsvd_error([&] { read_token_id_json(ids); });
  CHECK(has(msg, ids));
  CHECK(has(msg, "malformed JSON"));

  const std::string jsonl = kRegressions + "number-overflow.jsonl";  // line 2: "n": -1e999
  msg = kvsvd_error([&] { read_text_documents(jsonl, TextFormat::Jsonl, "text"); });
  CHECK(has(msg, jsonl + ":2"));
}
