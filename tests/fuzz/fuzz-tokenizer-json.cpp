// Fuzz target: tokenizer.json itself. Whatever loads must encode and decode a fixed text
// (plain words, digits, an added token, multi-byte UTF-8) without crashing, and every id it
// produces must lie below vocab_size().
#include <cstdint>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (kvsvd::fuzz::scratch_dir() / "tokenizer.json").string();
  fuzz::write_file(path, data, size);
  fuzz::expect_ok_or_error([&] {
    const Tokenizer tok = Tokenizer::from_file(path);
    const std::string text = "hello world <|begin_of_text|>  12345 \xc3\xa4\xe2\x82\xac\n\tend";
    std::vector<int32_t> ids = tok.encode(text, false);
    for (int32_t id : ids) KVSVD_FUZZ_ASSERT(id >= 0 && id < tok.vocab_size());
    (void)tok.decode(ids);
    (void)tok.decode(ids, true);
    (void)tok.token_to_id("hello");
    if (tok.bos_id() >= 0) {
      KVSVD_FUZZ_ASSERT(tok.bos_id() < tok.vocab_size());
      ids = tok.encode("x", true);
      KVSVD_FUZZ_ASSERT(!ids.empty() && ids[0] == tok.bos_id());
    }
  });
  return 0;
}
