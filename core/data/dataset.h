// Datasets: token-id JSON, raw text files and JSONL readers, and fixed-length windows. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvsvd {

using TokenIds = std::vector<int32_t>;

// A JSON array of arrays of token ids ([[1,2,3],[4,5]]). Errors name the file and array index.
std::vector<TokenIds> read_token_id_json(const std::string& path);

enum class TextFormat { Text, Jsonl };
// Text: the whole file is one document, or documents separated by `separator` when non-empty.
// JSONL: one JSON object per line, the document in `field` (errors name file and line number).
std::vector<std::string> read_text_documents(const std::string& path, TextFormat fmt,
                                             const std::string& field = "text",
                                             const std::string& separator = "");

struct WindowSpec {
  int64_t seq_len = 0;      // tokens per window (0: each non-empty document is one window, as-is)
  int64_t stride = 0;       // start-to-start distance in text tokens (0: the text length of a
                            // window, seq_len or seq_len - 1 with BOS: no overlap, no gap)
  bool pack = true;         // join documents with eos_id between them; else windows per document
  int64_t max_windows = 0;  // 0: all
  int32_t eos_id = -1;      // separator when packing (-1: none)
  int32_t bos_id = -1;      // prepended to every window when >= 0 (counts in seq_len)
};

// Cuts documents into windows of exactly seq_len tokens (a shorter tail is dropped). Errors when
// no window results (names the dataset and the sizes), on an empty dataset, and on negative sizes.
// Text -> ids for these: tokenize_documents (core/data/tokenize-documents.h).
std::vector<TokenIds> make_windows(const std::vector<TokenIds>& docs, const WindowSpec& spec,
                                   const std::string& source);

}  // namespace kvsvd
