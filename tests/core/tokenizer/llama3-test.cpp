// The real Llama-3 tokenizer (fetched by scripts/fetch-assets.sh into the asset cache): a few ids
// known from the vocabulary, then every case of the Hugging Face `tokenizers` reference file.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tokenizer/tokenizer.h"
#include "core/util/json-util.h"
#include "support/catch.h"

using kvsvd::Tokenizer;
using Ids = std::vector<int32_t>;

namespace {

std::string cache_dir() {
  if (const char* c = std::getenv("KVSVD_CACHE")) return c;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/kvsvd";
}

std::string llama3_path() { return cache_dir() + "/tokenizer-llama3/models/tokenizer.json"; }

// The reference can be pointed elsewhere (a larger local dump) with KVSVD_TOKENIZER_REFERENCE.
std::string reference_path() {
  if (const char* p = std::getenv("KVSVD_TOKENIZER_REFERENCE")) return p;
  return std::string(KVSVD_TEST_DATA_DIR) + "/tokenizer/llama3-reference.json";
}

bool missing_allowed() {
  const char* v = std::getenv("KVSVD_ALLOW_MISSING_REFERENCE");
  return v && std::string(v) == "1";
}

// True when `path` exists. Otherwise the test fails, unless KVSVD_ALLOW_MISSING_REFERENCE=1
// (a machine without the fetched assets), in which case it says why and the caller returns.
bool have(const std::string& path, const char* what) {
  if (std::filesystem::exists(path)) return true;
  if (missing_allowed()) {
    WARN(what << " not found at " << path << " (skipped: KVSVD_ALLOW_MISSING_REFERENCE=1)");
    return false;
  }
  FAIL(what << " not found at " << path
            << ": run scripts/fetch-assets.sh, or set KVSVD_ALLOW_MISSING_REFERENCE=1");
  return false;
}

const Tokenizer& llama3() {
  static const Tokenizer tok = Tokenizer::from_file(llama3_path());
  return tok;
}

}  // namespace

TEST_CASE("llama3: ids known from the vocabulary") {
  if (!have(llama3_path(), "Llama-3 tokenizer.json")) return;
  const Tokenizer& tok = llama3();
  CHECK(tok.vocab_size() == 128256);
  CHECK(tok.bos_id() == 128000);
  CHECK(tok.eos_id() == 128001);
  CHECK(tok.encode("Hello world") == Ids{9906, 1917});
  CHECK(tok.encode(" world") == Ids{1917});
  CHECK(tok.encode("<|begin_of_text|>") == Ids{128000});
  CHECK(tok.encode("Hello world", true) == Ids{128000, 9906, 1917});
  CHECK(tok.encode("<|begin_of_text|>Hello<|end_of_text|>") == Ids{128000, 9906, 128001});
  CHECK(tok.encode("12345") == Ids{4513, 1774});  // digits in groups of three
  CHECK(tok.encode("I'm here") == Ids{40, 2846, 1618});
  // U+180E is not whitespace to Oniguruma, so "\u180E'" is one pre-token (ids from tokenizers).
  CHECK(tok.encode("\xE1\xA0\x8E'S") == Ids{157, 254, 236, 6, 50});
  CHECK(tok.token_to_id("Ġworld") == 1917);
  CHECK(tok.decode({128000, 9906, 1917}) == "<|begin_of_text|>Hello world");
  CHECK(tok.decode({128000, 9906, 1917}, true) == "Hello world");
  // 74 letters: one pre-token long enough for the heap merge loop.
  Ids a74(9, 70540);
  a74.push_back(5418);
  CHECK(tok.encode(std::string(74, 'a')) == a74);
}

TEST_CASE("llama3: identical ids to Hugging Face tokenizers on the reference file") {
  if (!have(llama3_path(), "Llama-3 tokenizer.json")) return;
  if (!have(reference_path(), "tokenizer reference")) return;
  const Tokenizer& tok = llama3();
  const nlohmann::json ref = kvsvd::load_json_file(reference_path());
  REQUIRE(ref.contains("cases"));
  const auto& cases = ref["cases"];
  REQUIRE(cases.size() >= 300);
  size_t id_mismatch = 0, roundtrip_mismatch = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string text = cases[i].at("text").get<std::string>();
    const Ids expect = cases[i].at("ids").get<Ids>();
    const Ids got = tok.encode(text);
    if (got != expect) {
      // Name the case and the first differing position, so a failure is actionable.
      size_t k = 0;
      while (k < got.size() && k < expect.size() && got[k] == expect[k]) ++k;
      INFO("case " << i << " text " << nlohmann::json(text).dump() << ": first difference at id "
                   << k << ", got " << nlohmann::json(got).dump() << ", expected "
                   << nlohmann::json(expect).dump());
      CHECK(got == expect);
      ++id_mismatch;
    }
    const std::string back = tok.decode(got);
    if (back != text) {
      INFO("case " << i << ": decode(encode(s)) = " << nlohmann::json(back).dump() << " != "
                   << nlohmann::json(text).dump());
      CHECK(back == text);
      ++roundtrip_mismatch;
    }
  }
  INFO(cases.size() << " cases");
  CHECK(id_mismatch == 0);
  CHECK(roundtrip_mismatch == 0);
}

TEST_CASE("llama3: concurrent encodes agree with a single thread") {
  if (!have(llama3_path(), "Llama-3 tokenizer.json")) return;
  if (!have(reference_path(), "tokenizer reference")) return;
  // A fresh tokenizer, so the threads fill its pre-token cache concurrently.
  const Tokenizer tok = Tokenizer::from_file(llama3_path());
  const nlohmann::json ref = kvsvd::load_json_file(reference_path());
  std::vector<std::string> texts;
  std::vector<Ids> expect;
  for (const auto& c : ref["cases"]) {
    texts.push_back(c.at("text").get<std::string>());
    expect.push_back(c.at("ids").get<Ids>());
  }
  const int n_threads = 4;
  std::vector<size_t> wrong(n_threads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < n_threads; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep)
        for (size_t i = 0; i < texts.size(); ++i) {
          const size_t k = (i * 7 + static_cast<size_t>(t) * 13) % texts.size();  // mixed orders
          if (tok.encode(texts[k]) != expect[k]) ++wrong[t];
        }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < n_threads; ++t) {
    CAPTURE(t);
    CHECK(wrong[t] == 0);
  }
}
