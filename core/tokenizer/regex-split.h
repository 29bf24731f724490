// A PCRE2 pattern (UTF + UCP, JIT-compiled when the library supports it) that cuts text into
// pre-tokens the way Hugging Face's Split(behavior = Isolated) does: every match is a piece and
// so is every non-empty gap between matches.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kvsvd {

class RegexSplitter {
 public:
  // `source` names where the pattern came from (file and key) for the error on a bad pattern.
  RegexSplitter(const std::string& pattern, const std::string& source);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Appends the pieces of `text` (valid UTF-8, already checked by the caller) to `out`; the
  // pieces point into `text`.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

  bool jit() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Hugging Face compiles these patterns with Oniguruma, whose \s is Unicode White_Space; PCRE2's
// \s in UCP mode also matches U+180E (MONGOLIAN VOWEL SEPARATOR). Rewrites \s (anywhere) and \S
// (outside classes) as explicit White_Space classes so both engines cut text the same way.
// \p{L} / \p{N} follow each library's Unicode tables (PCRE2 10.42: Unicode 14), which can differ
// on characters assigned in later Unicode versions.
std::string oniguruma_whitespace(const std::string& pattern);

// The pattern the ByteLevel pre-tokenizer uses when use_regex is true (GPT-2).
extern const char* const kGpt2Pattern;

}  // namespace kvsvd
