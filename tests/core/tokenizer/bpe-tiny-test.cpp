// Byte-level BPE on hand-made tokenizer.json files: merges in both spellings, added tokens,
// ignore_merges, BOS/EOS sources, UTF-8 handling, and the load errors.
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "support/catch.h"
#include "support/tiny-tokenizer.h"

using kvsvd::Tokenizer;
using kvsvd::test::TempDir;
using kvsvd::test::tiny_tokenizer;
using Ids = std::vector<int32_t>;

namespace {

Tokenizer load(const TempDir& dir, const nlohmann::json& doc) {
  return Tokenizer::from_file(dir.write("tokenizer.json", doc.dump()));
}

// The error message of what `fn` throws (kvsvd::Error), or "" when it does not throw.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const kvsvd::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("tiny BPE: merges applied by rank, both merge spellings") {
  TempDir dir;
  for (bool pairs : {false, true}) {
    CAPTURE(pairs);
    const Tokenizer tok = load(dir, tiny_tokenizer(pairs));
    CHECK(tok.encode("hello world") == Ids{11, 16});
    CHECK(tok.encode("hello") == Ids{11});
    CHECK(tok.encode("world") == Ids{5, 13, 15});  // no "w or" merge without the space
    CHECK(tok.encode("lol") == Ids{17, 2});
    CHECK(tok.encode("lll") == Ids{9, 2});  // equal ranks: leftmost pair first
    CHECK(tok.encode("") == Ids{});
    CHECK(tok.vocab_size() == 25);
    CHECK(tok.decode({11, 16}) == "hello world");
  }
}

TEST_CASE("tiny BPE: long pre-tokens (heap merge loop) agree with short ones") {
  TempDir dir;
  const Tokenizer tok = load(dir, tiny_tokenizer());
  std::string hellos;
  Ids expect;
  for (int i = 0; i < 20; ++i) {
    hellos += "hello";
    expect.push_back(11);
  }
  CHECK(tok.encode(hellos) == expect);  // one 100-byte pre-token
  CHECK(tok.encode(std::string(100, 'l')) == Ids(50, 9));
  Ids odd(50, 9);
  odd.push_back(2);
  CHECK(tok.encode(std::string(101, 'l')) == odd);
  CHECK(tok.decode(tok.encode(hellos)) == hellos);
}

TEST_CASE("tiny BPE: ignore_merges maps a pre-token that is a token directly") {
  TempDir dir;
  CHECK(load(dir, tiny_tokenizer(false, false)).encode("wd") == Ids{5, 7});
  CHECK(load(dir, tiny_tokenizer(false, true)).encode("wd") == Ids{18});
  // Still merges what is not itself a token.
  CHECK(load(dir, tiny_tokenizer(false, true)).encode("hello world") == Ids{11, 16});
}

TEST_CASE("tiny BPE: added tokens are cut out first, longest match wins") {
  TempDir dir;
  const Tokenizer tok = load(dir, tiny_tokenizer());
  CHECK(tok.encode("hello<a>bhello<a>") == Ids{11, 20, 11, 19});
  CHECK(tok.encode("<a><a>") == Ids{19, 19});
  // lstrip / rstrip: the whitespace around "<m>" belongs to it.
  CHECK(tok.encode("hello <m> world") == Ids{11, 21, 5, 13, 15});
  CHECK(tok.decode({19, 11}) == "<a>hello");
  CHECK(tok.decode({19, 11, 21}, true) == "hello");
  CHECK(tok.decode({20}, true) == "<a>b");  // not special: kept
}

TEST_CASE("tiny BPE: BOS/EOS from tokenizer_config.json or the post-processor template") {
  SECTION("no BOS anywhere") {
    TempDir dir;
    const Tokenizer tok = load(dir, tiny_tokenizer());
    CHECK(tok.bos_id() == -1);
    CHECK(tok.eos_id() == -1);
    CHECK_FALSE(tok.add_bos_by_default());
    CHECK(contains(error_of([&] { tok.encode("hello", true); }), "no BOS"));
  }
  SECTION("tokenizer_config.json, string and object forms") {
    TempDir dir;
    dir.write("tokenizer_config.json",
              R"({"bos_token": {"content": "<a>", "lstrip": false}, "eos_token": "<m>",
                  "add_bos_token": true})");
    const Tokenizer tok = load(dir, tiny_tokenizer());
    CHECK(tok.bos_id() == 19);
    CHECK(tok.eos_id() == 21);
    CHECK(tok.add_bos_by_default());
    CHECK(tok.encode("hello", true) == Ids{19, 11});
    CHECK(tok.encode("hello", false) == Ids{11});
  }
  SECTION("TemplateProcessing") {
    TempDir dir;
    auto doc = tiny_tokenizer();
    doc["post_processor"] = nlohmann::json::parse(R"({"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<m>", "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [], "special_tokens": {"<m>": {"id": "<m>", "ids": [21], "tokens": ["<m>"]}}})");
    const Tokenizer tok = load(dir, doc);
    CHECK(tok.bos_id() == 21);
    CHECK(tok.add_bos_by_default());
    CHECK(tok.encode("hello", true) == Ids{21, 11});
  }
  SECTION("config names a token that does not exist") {
    TempDir dir;
    dir.write("tokenizer_config.json", R"({"bos_token": "<nope>"})");
    const std::string msg = error_of([&] { load(dir, tiny_tokenizer()); });
    CHECK(contains(msg, "<nope>"));
  }
}

TEST_CASE("tiny BPE: invalid UTF-8 input is rejected with its byte offset") {
  TempDir dir;
  const Tokenizer tok = load(dir, tiny_tokenizer());
  CHECK(contains(error_of([&] { tok.encode("he\xFFllo"); }), "byte offset 2"));
  CHECK(contains(error_of([&] { tok.encode("hello\xC3"); }), "byte offset 5"));        // truncated
  CHECK(contains(error_of([&] { tok.encode("\xC0\x80"); }), "byte offset 0"));         // overlong
  CHECK(contains(error_of([&] { tok.encode("ll\xED\xA0\x80"); }), "byte offset 2"));   // surrogate
  CHECK(contains(error_of([&] { tok.encode("\xF4\x90\x80\x80"); }), "byte offset 0")); // > U+10FFFF
  CHECK(error_of([&] { tok.encode("hello"); }).empty());
}

TEST_CASE("tiny BPE: decode turns invalid byte sequences into U+FFFD") {
  TempDir dir;
  const Tokenizer tok = load(dir, tiny_tokenizer());
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(tok.decode({23, 24}) == "\xC3\xA9");  // two single-byte tokens make "é"
  CHECK(tok.decode({22}) == fffd);            // lone lead byte 0xE4
  CHECK(tok.decode({22, 0}) == fffd + "h");
  CHECK(tok.decode({24, 24}) == fffd + fffd);  // two stray continuation bytes
  CHECK(tok.decode({22, 24}) == fffd);         // E4 A9: one maximal truncated sequence
  CHECK(contains(error_of([&] { tok.decode({11, 99}); }), "99"));
  CHECK(contains(error_of([&] { tok.decode({-1}); }), "-1"));
}

TEST_CASE("tiny BPE: a byte with no token is an error naming it") {
  TempDir dir;
  const Tokenizer tok = load(dir, tiny_tokenizer());
  CHECK(contains(error_of([&] { tok.encode("z"); }), "0x7a"));
}

TEST_CASE("tiny BPE: unsupported or broken tokenizer.json files are refused") {
  TempDir dir;
  SECTION("model type") {
    auto doc = tiny_tokenizer();
    doc["model"]["type"] = "WordPiece";
    const std::string msg = error_of([&] { load(dir, doc); });
    CHECK(contains(msg, "WordPiece"));
    CHECK(contains(msg, "tokenizer.json"));
  }
  SECTION("pre-tokenizer type") {
    auto doc = tiny_tokenizer();
    doc["pre_tokenizer"] = {{"type", "Whitespace"}};
    const std::string msg = error_of([&] { load(dir, doc); });
    CHECK(contains(msg, "Whitespace"));
    CHECK(contains(msg, "tokenizer.json"));
  }
  SECTION("pre-tokenizer inside a Sequence") {
    auto doc = tiny_tokenizer();
    doc["pre_tokenizer"] = nlohmann::json::parse(
        R"({"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
    CHECK(contains(error_of([&] { load(dir, doc); }), "Digits"));
  }
  SECTION("Split behaviour") {
    auto doc = tiny_tokenizer();
    doc["pre_tokenizer"] = nlohmann::json::parse(
        R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"},
            "behavior": "Removed", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
    CHECK(contains(error_of([&] { load(dir, doc); }), "Removed"));
  }
  SECTION("bad regex") {
    auto doc = tiny_tokenizer();
    doc["pre_tokenizer"] = nlohmann::json::parse(
        R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(ab"},
            "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
    CHECK(contains(error_of([&] { load(dir, doc); }), "pattern"));
  }
  SECTION("merge uses a token missing from the vocab") {
    auto doc = tiny_tokenizer();
    doc["model"]["merges"].push_back("h z");
    const std::string msg = error_of([&] { load(dir, doc); });
    CHECK(contains(msg, "'z'"));
    CHECK(contains(msg, "merges[10]"));
  }
  SECTION("merge makes a token missing from the vocab") {
    auto doc = tiny_tokenizer(true);
    doc["model"]["merges"].push_back({"e", "h"});
    CHECK(contains(error_of([&] { load(dir, doc); }), "'eh'"));
  }
  SECTION("malformed merge string") {
    auto doc = tiny_tokenizer();
    doc["model"]["merges"].push_back("hello");
    CHECK(contains(error_of([&] { load(dir, doc); }), "merges[10]"));
  }
  SECTION("normalizer") {
    auto doc = tiny_tokenizer();
    doc["normalizer"] = {{"type", "NFC"}};
    CHECK(contains(error_of([&] { load(dir, doc); }), "NFC"));
  }
  SECTION("missing file") {
    CHECK(contains(error_of([&] { Tokenizer::from_file((dir.path / "nope.json").string()); }),
                   "nope.json"));
  }
}

TEST_CASE("tiny BPE: Split + ByteLevel sequence and add_prefix_space") {
  TempDir dir;
  auto doc = tiny_tokenizer();
  // Split only at spaces (Isolated keeps them as pieces of their own).
  doc["pre_tokenizer"] = nlohmann::json::parse(
      R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": " "},
          "behavior": "Isolated", "invert": false},
          {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]})");
  CHECK(load(dir, doc).encode("hello world") == Ids{11, 4, 5, 13, 15});
  auto spaced = tiny_tokenizer();
  spaced["pre_tokenizer"]["add_prefix_space"] = true;
  CHECK(load(dir, spaced).encode("world") == Ids{16});
  CHECK(load(dir, spaced).encode(" world") == Ids{16});
}
