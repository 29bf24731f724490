// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (Llama-3 style). Torch-free.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kvsvd {

// What is supported (anything else is refused at load with an error naming the file and the
// type, rather than tokenizing differently from Hugging Face `tokenizers`):
//   model: BPE with vocab, merges as "a b" strings or ["a", "b"] pairs, ignore_merges, unk_token;
//   normalizer: null; decoder: ByteLevel or null;
//   pre_tokenizer: ByteLevel (use_regex: GPT-2 pattern; add_prefix_space), or a Sequence of
//     Split{Regex, Isolated, invert false} steps ending in ByteLevel (Llama-3). Regexes run in
//     PCRE2 (UTF + UCP, JIT when available);
//   added_tokens: matched in the raw text before pre-tokenization, leftmost-longest; lstrip /
//     rstrip / single_word as documented in added-tokens.h;
//   post_processor: only read for BOS (the leading SpecialToken of a TemplateProcessing).
// encode() and decode() may be called from several threads at once (the pre-token cache is
// locked).
class Tokenizer {
 public:
  // tokenizer.json; tokenizer_config.json beside it is read when present: bos_token, eos_token
  // (a string or {"content": ...}), add_bos_token.
  static Tokenizer from_file(const std::string& path);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Ids without special tokens, plus BOS in front when `add_bos` (error if there is no BOS).
  // Added tokens in the text (e.g. "<|begin_of_text|>") become their ids, as in Hugging Face.
  // Invalid UTF-8 in `text` is an error naming the byte offset: Hugging Face only accepts
  // strings, so there is no reference behaviour to copy, and silently replacing bytes would make
  // decode(encode(s)) != s.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false) const;
  // Invalid byte sequences become U+FFFD (String::from_utf8_lossy), as Hugging Face does.
  // An id outside the vocabulary is an error naming the id and its position.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
  int32_t bos_id() const;  // -1 when the tokenizer defines none
  int32_t eos_id() const;  // -1 when the tokenizer defines none
  // Highest id (vocabulary or added token) + 1: 128256 for Llama-3.
  int64_t vocab_size() const;
  // tokenizer_config.json's add_bos_token, else whether the post-processor template starts with
  // a special token. Callers pass it to encode() as add_bos when they want Hugging Face's default.
  bool add_bos_by_default() const;
  // Added token content or vocabulary token (as stored, e.g. "Ġworld") -> id, or -1.
  int32_t token_to_id(const std::string& token) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvsvd
