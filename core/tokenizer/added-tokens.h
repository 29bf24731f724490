// Added (special) tokens of tokenizer.json, found in the raw text before pre-tokenization,
// leftmost-longest as Hugging Face's AddedVocabulary does. Private to core/tokenizer.
//
// Supported flags: lstrip / rstrip (the match swallows Unicode White_Space on that side, as
// Hugging Face does), single_word (a match must not touch an ASCII letter, digit or '_' on either
// side; Hugging Face also counts non-ASCII letters as word characters, Llama-3 sets no
// single_word token). `normalized` is irrelevant because normalizers are refused.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace kvsvd {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

class AddedTokens {
 public:
  AddedTokens() = default;
  // `added` is tokenizer.json's "added_tokens" array (absent or null: none).
  AddedTokens(const nlohmann::json& added, const std::string& source);

  struct Match {
    size_t start, end;  // bytes covered, including stripped whitespace
    int32_t id;
  };
  // The next match at or after `from`, or false.
  bool find(std::string_view text, size_t from, Match& m) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }

 private:
  std::vector<AddedToken> tokens_;
  // Candidates per first byte, longest first.
  std::array<std::vector<uint32_t>, 256> by_first_;
};

}  // namespace kvsvd
