// Fuzz target: the dataset readers on one file: token-id JSON, plain text (whole file and
// blank-line separated) and JSONL; accepted token-id documents are then cut into windows.
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "dataset.input").string();
  fuzz::write_file(path, data, size);
  fuzz::expect_ok_or_error([&] {
    const std::vector<TokenIds> docs = read_token_id_json(path);
    KVSVD_FUZZ_ASSERT(!docs.empty());
    for (const auto& d : docs)
      for (int32_t id : d) KVSVD_FUZZ_ASSERT(id >= 0);
    // A few window shapes; sizes come from the input so that odd ones get tried too.
    const int64_t seq = 1 + int64_t(size % 9);
    for (const WindowSpec spec : {WindowSpec{seq, 0, true, 0, 2, -1},
                                  WindowSpec{seq + 1, 1, false, 3, -1, 1},
                                  WindowSpec{0, 0, false, 0, -1, -1}}) {
      fuzz::expect_ok_or_error([&] {
        for (const TokenIds& w : make_windows(docs, spec, path))
          if (spec.seq_len > 0) KVSVD_FUZZ_ASSERT(int64_t(w.size()) == spec.seq_len);
      });
    }
  });
  fuzz::expect_ok_or_error([&] {
    const auto docs = read_text_documents(path, TextFormat::Text);
    KVSVD_FUZZ_ASSERT(docs.size() == 1 && docs[0].size() == size);
  });
  fuzz::expect_ok_or_error([&] {
    for (const auto& d : read_text_documents(path, TextFormat::Text, "text", "\n\n"))
      KVSVD_FUZZ_ASSERT(!d.empty() && d.find("\n\n") == std::string::npos);
  });
  fuzz::expect_ok_or_error([&] { (void)read_text_documents(path, TextFormat::Jsonl, "text"); });
  return 0;
}
