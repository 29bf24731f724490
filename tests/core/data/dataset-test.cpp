// core/data: token-id JSON, text and JSONL readers, windows, tokenize_documents.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/tokenize-documents.h"
#include "core/util/error.h"
#include "support/catch.h"
#include "support/temp-dir.h"

using namespace kvsvd;
using Ids = TokenIds;

namespace {

using kvsvd::test::TempDir;

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Documents 0..9 and 100..104 (15 tokens in all).
std::vector<Ids> two_docs() { return {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {100, 101, 102, 103, 104}}; }

}  // namespace

TEST_CASE("read_token_id_json") {
  TempDir dir;
  CHECK(read_token_id_json(dir.write("a.json", "[[1,2,3],[4],[]]")) ==
        std::vector<Ids>{{1, 2, 3}, {4}, {}});
  CHECK(contains(error_of([&] { read_token_id_json(dir.write("b.json", "[[1,2],[3,\"x\"]]")); }),
                 "[1][1]"));
  CHECK(contains(error_of([&] { read_token_id_json(dir.write("c.json", "[[1],5]")); }), "[1]"));
  CHECK(contains(error_of([&] { read_token_id_json(dir.write("d.json", "[[-1]]")); }), "[0][0]"));
  CHECK(contains(error_of([&] { read_token_id_json(dir.write("e.json", "[]")); }),
                 "empty dataset"));
  CHECK(contains(error_of([&] { read_token_id_json(dir.write("f.json", "{\"a\":1}")); }),
                 "f.json"));
  CHECK(contains(error_of([&] { read_token_id_json((dir.path / "none.json").string()); }),
                 "none.json"));
}

TEST_CASE("read_text_documents: text files") {
  TempDir dir;
  const std::string p = dir.write("t.txt", "one\n\ntwo\n\n\n\nthree");
  CHECK(read_text_documents(p, TextFormat::Text) == std::vector<std::string>{"one\n\ntwo\n\n\n\nthree"});
  CHECK(read_text_documents(p, TextFormat::Text, "text", "\n\n") ==
        std::vector<std::string>{"one", "two", "three"});
  const std::string empty = dir.write("empty.txt", "");
  const std::string msg = error_of([&] { read_text_documents(empty, TextFormat::Text); });
  CHECK(contains(msg, "empty dataset"));
  CHECK(contains(msg, "empty.txt"));
  CHECK(contains(error_of([&] {
                   read_text_documents(dir.write("s.txt", "||||"), TextFormat::Text, "text", "|");
                 }),
                 "empty dataset"));
}

TEST_CASE("read_text_documents: JSONL") {
  TempDir dir;
  const std::string ok =
      dir.write("ok.jsonl", "{\"text\": \"a b\", \"id\": 1}\r\n\n{\"text\": \"c\"}\n{\"body\": \"x\", \"text\": \"\"}\n");
  CHECK(read_text_documents(ok, TextFormat::Jsonl) == std::vector<std::string>{"a b", "c", ""});
  CHECK(read_text_documents(dir.write("f.jsonl", "{\"body\": \"x\"}\n"), TextFormat::Jsonl, "body") ==
        std::vector<std::string>{"x"});

  SECTION("line that is not JSON") {
    const std::string p = dir.write("bad.jsonl", "{\"text\": \"a\"}\n\n{not json\n");
    const std::string msg = error_of([&] { read_text_documents(p, TextFormat::Jsonl); });
    CHECK(contains(msg, "bad.jsonl:3"));
  }
  SECTION("missing field") {
    const std::string p = dir.write("miss.jsonl", "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n");
    const std::string msg = error_of([&] { read_text_documents(p, TextFormat::Jsonl); });
    CHECK(contains(msg, "miss.jsonl:2"));
    CHECK(contains(msg, "'text'"));
  }
  SECTION("field not a string") {
    const std::string p = dir.write("num.jsonl", "{\"text\": 5}\n");
    const std::string msg = error_of([&] { read_text_documents(p, TextFormat::Jsonl); });
    CHECK(contains(msg, "num.jsonl:1"));
    CHECK(contains(msg, "string"));
  }
  SECTION("line that is not an object") {
    const std::string p = dir.write("arr.jsonl", "[1, 2]\n");
    CHECK(contains(error_of([&] { read_text_documents(p, TextFormat::Jsonl); }), "arr.jsonl:1"));
  }
  SECTION("no lines") {
    const std::string p = dir.write("blank.jsonl", "\n  \n");
    CHECK(contains(error_of([&] { read_text_documents(p, TextFormat::Jsonl); }), "empty dataset"));
  }
}

TEST_CASE("make_windows: packed, with EOS between documents") {
  WindowSpec s;
  s.seq_len = 4;
  s.eos_id = 99;
  // Stream: 0..9, 99, 100..104 (16 tokens) -> 4 windows.
  const auto w = make_windows(two_docs(), s, "docs");
  REQUIRE(w.size() == 4);
  CHECK(w[0] == Ids{0, 1, 2, 3});
  CHECK(w[2] == Ids{8, 9, 99, 100});
  CHECK(w[3] == Ids{101, 102, 103, 104});
  s.eos_id = -1;  // no separator: 15 tokens -> 3 windows, tail of 3 dropped
  const auto w2 = make_windows(two_docs(), s, "docs");
  REQUIRE(w2.size() == 3);
  CHECK(w2[2] == Ids{8, 9, 100, 101});
}

TEST_CASE("make_windows: stride, max_windows, BOS") {
  WindowSpec s;
  s.seq_len = 4;
  s.stride = 2;
  const auto w = make_windows({{0, 1, 2, 3, 4, 5, 6, 7}}, s, "d");
  REQUIRE(w.size() == 3);  // starts 0, 2, 4
  CHECK(w[1] == Ids{2, 3, 4, 5});
  CHECK(w[2] == Ids{4, 5, 6, 7});
  s.max_windows = 2;
  CHECK(make_windows({{0, 1, 2, 3, 4, 5, 6, 7}}, s, "d").size() == 2);

  WindowSpec b;
  b.seq_len = 4;
  b.bos_id = 7;  // 3 text tokens per window
  const auto wb = make_windows({{0, 1, 2, 3, 4, 5, 6}}, b, "d");
  REQUIRE(wb.size() == 2);
  CHECK(wb[0] == Ids{7, 0, 1, 2});
  CHECK(wb[1] == Ids{7, 3, 4, 5});
  b.seq_len = 1;
  CHECK(contains(error_of([&] { make_windows({{0, 1}}, b, "d"); }), "BOS"));
}

TEST_CASE("make_windows: per document when not packed") {
  WindowSpec s;
  s.seq_len = 4;
  s.pack = false;
  s.eos_id = 99;  // unused when not packing
  const auto w = make_windows(two_docs(), s, "docs");
  REQUIRE(w.size() == 3);  // 0..3, 4..7 from doc 0; 100..103 from doc 1
  CHECK(w[1] == Ids{4, 5, 6, 7});
  CHECK(w[2] == Ids{100, 101, 102, 103});
  s.max_windows = 1;
  CHECK(make_windows(two_docs(), s, "docs").size() == 1);
  s.max_windows = 0;
  s.seq_len = 6;  // doc 1 is too short: only doc 0 contributes
  CHECK(make_windows(two_docs(), s, "docs").size() == 1);
}

TEST_CASE("make_windows: seq_len 0 keeps each document whole") {
  WindowSpec s;
  s.bos_id = 5;
  const auto w = make_windows({{1, 2}, {}, {3}}, s, "d");
  REQUIRE(w.size() == 2);
  CHECK(w[0] == Ids{5, 1, 2});
  CHECK(w[1] == Ids{5, 3});
}

TEST_CASE("make_windows: errors name the source and the sizes") {
  WindowSpec s;
  s.seq_len = 64;
  const std::string msg = error_of([&] { make_windows(two_docs(), s, "sotu.txt"); });
  CHECK(contains(msg, "sotu.txt"));
  CHECK(contains(msg, "64"));
  CHECK(contains(msg, "15 tokens"));
  CHECK(contains(error_of([&] { make_windows({}, s, "x"); }), "empty dataset"));
  s.seq_len = -1;
  CHECK(contains(error_of([&] { make_windows(two_docs(), s, "x"); }), "seq_len"));
  s.seq_len = 0;
  CHECK(contains(error_of([&] { make_windows({{}, {}}, s, "x"); }), "empty"));
}

TEST_CASE("tokenize_documents") {
  const TextEncoder bytes = [](const std::string& s) {
    Ids ids;
    for (unsigned char c : s) ids.push_back(c);
    return ids;
  };
  CHECK(tokenize_documents({"ab", "", "c"}, bytes, "src") == std::vector<Ids>{{97, 98}, {}, {99}});
  CHECK(contains(error_of([&] { tokenize_documents({}, bytes, "src"); }), "empty dataset"));
  CHECK(contains(error_of([&] { tokenize_documents({"", ""}, bytes, "src"); }), "empty dataset"));
  const TextEncoder failing = [](const std::string& s) -> Ids {
    if (s == "bad") fail("boom");
    return {1};
  };
  const std::string msg = error_of([&] { tokenize_documents({"ok", "bad"}, failing, "src"); });
  CHECK(contains(msg, "document 1"));
  CHECK(contains(msg, "boom"));
}
