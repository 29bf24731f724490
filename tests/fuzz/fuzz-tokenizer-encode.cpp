// Fuzz target: encode/decode of arbitrary bytes with the bundled model's Llama-3-style
// tokenizer (loaded once). Valid UTF-8 must round-trip (decode(encode(s)) == s, the byte-level
// BPE guarantee); invalid UTF-8 must be refused with kvsvd::Error. The same bytes, read as
// little-endian 16-bit ids, go through decode() too (ids outside the vocabulary are errors).
#include <cstdint>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;

namespace {
const Tokenizer& tokenizer() {
  static const Tokenizer tok =
      Tokenizer::from_file(KVSVD_SOURCE_DIR "/assets/models/sotu-llama-tiny/tokenizer.json");
  return tok;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Tokenizer& tok = tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::expect_ok_or_error([&] {
    const std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/size % 2 == 1);
    std::vector<int32_t> body = ids;
    if (size % 2 == 1) {
      KVSVD_FUZZ_ASSERT(!body.empty() && body.front() == tok.bos_id());
      body.erase(body.begin());
    }
    for (int32_t id : body) KVSVD_FUZZ_ASSERT(id >= 0 && id < tok.vocab_size());
    KVSVD_FUZZ_ASSERT(tok.decode(body) == text);
  });
  fuzz::expect_ok_or_error([&] {
    std::vector<int32_t> ids;
    for (size_t i = 0; i + 1 < size; i += 2) ids.push_back(int32_t(data[i] | (data[i + 1] << 8)));
    (void)tok.decode(ids, /*skip_special=*/size % 3 == 0);
  });
  return 0;
}
