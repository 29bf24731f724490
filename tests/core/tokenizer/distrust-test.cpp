// tokenizer.json is untrusted input: ids cannot size tables beyond what the file holds, ids do not
// wrap when narrowed, and members of the wrong JSON type are errors naming the file.
#include <cstdint>
#include <string>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "support/catch.h"
#include "support/tiny-tokenizer.h"

using namespace kvsvd;
using kvsvd::test::TempDir;
using kvsvd::test::tiny_tokenizer;

namespace {

std::string load_error(const nlohmann::json& j) {
  TempDir dir;
  const std::string path = dir.write("tokenizer.json", j.dump());
  try {
    Tokenizer::from_file(path);
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find(path) != std::string::npos);
    return msg;
  }
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("distrust: a vocabulary id cannot size the id tables beyond the file", "[tokenizer]") {
  nlohmann::json j = tiny_tokenizer();
  REQUIRE(load_error(j).empty());
  j["model"]["vocab"]["wd"] = (int64_t{1} << 31) - 1;  // would be 2^31 table entries
  const std::string msg = load_error(j);
  CHECK(has(msg, "model.vocab['wd']"));
  CHECK(has(msg, "2147483647"));
  CHECK(has(msg, "more tokens than a file"));
}

TEST_CASE("distrust: added token ids are range-checked before narrowing", "[tokenizer]") {
  nlohmann::json j = tiny_tokenizer();
  SECTION("2^32 + 5 does not alias id 5") {
    j["added_tokens"][0]["id"] = (int64_t{1} << 32) + 5;
    CHECK(has(load_error(j), "added_tokens[0]"));
  }
  SECTION("a large id in a small file") {
    j["added_tokens"][0]["id"] = 4000000;
    const std::string msg = load_error(j);
    CHECK(has(msg, "added_tokens[0]"));
    CHECK(has(msg, "4000000"));
  }
  SECTION("negative") {
    j["added_tokens"][0]["id"] = -1;
    CHECK(has(load_error(j), "added_tokens[0]"));
  }
}

TEST_CASE("distrust: members of the wrong JSON type are errors naming the file", "[tokenizer]") {
  nlohmann::json j = tiny_tokenizer();
  SECTION("decoder is a number") { j["decoder"] = 5; }
  SECTION("normalizer is a list") { j["normalizer"] = {1, 2}; }
  SECTION("added token 'special' is a string") { j["added_tokens"][0]["special"] = "yes"; }
  SECTION("model.ignore_merges is a string") { j["model"]["ignore_merges"] = "no"; }
  SECTION("pre_tokenizer add_prefix_space is a number") {
    j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", 3}};
  }
  SECTION("post_processor type is a number") {
    j["post_processor"] = {{"type", 1}};
  }
  CHECK(!load_error(j).empty());
}
