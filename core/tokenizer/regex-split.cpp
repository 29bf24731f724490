#include "core/tokenizer/regex-split.h"

#include <pcre2.h>

#include "core/util/error.h"

namespace kvsvd {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {
std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof buf);
  return reinterpret_cast<const char*>(buf);
}
}  // namespace

std::string oniguruma_whitespace(const std::string& p) {
  const std::string ws =
      "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
      "\\x{202F}\\x{205F}\\x{3000}";
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char d = p[i + 1];
      if (d == 'Q') {  // \Q...\E quotes: copied untouched
        size_t e = p.find("\\E", i + 2);
        e = e == std::string::npos ? p.size() : e + 2;
        out.append(p, i, e - i);
        i = e - 1;
      } else if (d == 's') {
        out += in_class ? ws : "[" + ws + "]";
        ++i;
      } else if (d == 'S' && !in_class) {
        out += "[^" + ws + "]";
        ++i;
      } else {
        out += c;
        out += d;
        ++i;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // "[^]...]" and "[]...]": a ']' first in the class is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // [:alpha:]
      const size_t e = p.find(":]", i + 2);
      if (e != std::string::npos) {
        out.append(p, i, e + 2 - i);
        i = e + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

struct RegexSplitter::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

RegexSplitter::RegexSplitter(const std::string& pattern, const std::string& source)
    : impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  // UCP: \s, \w, \d and POSIX classes follow Unicode properties, as in Oniguruma, which Hugging
  // Face compiles these patterns with.
  const std::string compiled = oniguruma_whitespace(pattern);
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(),
                              PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
  KVSVD_CHECK(impl_->code != nullptr, source, ": cannot compile pre-tokenizer regex at offset ",
              err_off, ": ", pcre2_message(err), " (pattern: ", pattern, ")");
  // JIT is several times faster; a PCRE2 built without it (or a platform it does not support)
  // returns an error here and the interpreter is used instead.
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

bool RegexSplitter::jit() const { return impl_->jit; }

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  struct MatchData {
    pcre2_match_data* md;
    ~MatchData() { pcre2_match_data_free(md); }
  } data{pcre2_match_data_create(1, nullptr)};
  KVSVD_CHECK(data.md != nullptr, "out of memory allocating PCRE2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  size_t pos = 0;   // where the next search starts
  size_t last = 0;  // end of the last piece emitted
  while (pos < n) {
    // The caller validated the UTF-8 once for the whole text; skip PCRE2's own check.
    int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, n, pos, PCRE2_NO_UTF_CHECK, data.md,
                                          nullptr)
                        : PCRE2_ERROR_JIT_STACKLIMIT;
    // A very long run (megabytes of whitespace) can exhaust the JIT's default stack; the
    // interpreter keeps its backtracking state on the heap and finishes the match.
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(impl_->code, subject, n, pos, PCRE2_NO_UTF_CHECK, data.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    KVSVD_CHECK(rc >= 0, "pre-tokenizer regex failed at byte ", pos, ": ", pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.md);
    const size_t start = ov[0], end = ov[1];
    if (end == start) {
      // Empty match: Hugging Face emits nothing for it; step over one character.
      ++pos;
      while (pos < n && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    if (start > last) out.push_back(text.substr(last, start - last));
    out.push_back(text.substr(start, end - start));
    last = pos = end;
  }
  if (last < n) out.push_back(text.substr(last));
}

}  // namespace kvsvd
