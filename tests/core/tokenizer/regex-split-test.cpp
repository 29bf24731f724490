// Pre-token splitting with PCRE2: the Llama-3 pattern, Isolated gaps, Oniguruma's \s.
#include <string>
#include <vector>

#include "core/tokenizer/regex-split.h"
#include "core/util/error.h"
#include "support/catch.h"

using kvsvd::RegexSplitter;
using Pieces = std::vector<std::string>;

namespace {

const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

Pieces split(const RegexSplitter& r, const std::string& text) {
  std::vector<std::string_view> views;
  r.split(text, views);
  return Pieces(views.begin(), views.end());
}

}  // namespace

TEST_CASE("regex split: Llama-3 pattern") {
  const RegexSplitter r(kLlama3Pattern, "test");
  CHECK(split(r, "Hello world's 12345!!\n\n  x") ==
        Pieces{"Hello", " world", "'s", " ", "123", "45", "!!\n\n", " ", " x"});
  CHECK(split(r, "I'LL") == Pieces{"I", "'LL"});  // case-insensitive contractions
  CHECK(split(r, "") == Pieces{});
  // U+180E is not whitespace for Oniguruma (Hugging Face), though PCRE2's own \s matches it.
  CHECK(split(r, "\xE1\xA0\x8E'S") == Pieces{"\xE1\xA0\x8E'", "S"});
  CHECK(split(r, "a\xC2\x85 b") == Pieces{"a", "\xC2\x85", " b"});  // U+0085 is whitespace
}

TEST_CASE("regex split: gaps between matches are pieces too (Isolated)") {
  const RegexSplitter r("[0-9]+", "test");
  CHECK(split(r, "ab12cd345") == Pieces{"ab", "12", "cd", "345"});
  CHECK(split(r, "xyz") == Pieces{"xyz"});
  const RegexSplitter empty_ok("x*", "test");  // empty matches emit nothing
  CHECK(split(empty_ok, "axxb") == Pieces{"a", "xx", "b"});
}

TEST_CASE("regex split: very long runs still match") {
  const RegexSplitter r(kLlama3Pattern, "test");
  const std::string spaces(1 << 20, ' ');
  CHECK(split(r, spaces + "x") == Pieces{spaces.substr(1), " x"});
}

TEST_CASE("regex split: Oniguruma whitespace rewrite") {
  const std::string ws = kvsvd::oniguruma_whitespace(R"(\s)");
  CHECK(ws.front() == '[');
  CHECK(ws.find("\\x{85}") != std::string::npos);
  CHECK(ws.find("180E") == std::string::npos);
  CHECK(kvsvd::oniguruma_whitespace(R"([^\s\p{L}])").find("[^\\x{9}") == 0);
  CHECK(kvsvd::oniguruma_whitespace(R"(\S)").find("[^") == 0);
  CHECK(kvsvd::oniguruma_whitespace(R"(\\s\Q\s\E)") == R"(\\s\Q\s\E)");  // escaped and quoted
  CHECK(kvsvd::oniguruma_whitespace(R"([]\s])").find("[]\\x{9}") == 0);
}

TEST_CASE("regex split: a bad pattern names its source") {
  try {
    RegexSplitter r("(unclosed", "tok.json: pre_tokenizer");
    FAIL("no error");
  } catch (const kvsvd::Error& e) {
    CHECK(std::string(e.what()).find("tok.json: pre_tokenizer") != std::string::npos);
  }
}
