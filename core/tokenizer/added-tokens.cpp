#include "core/tokenizer/added-tokens.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>

#include "core/util/utf8.h"
#include "core/util/error.h"

namespace kvsvd {

namespace {
bool ascii_word(unsigned char c) { return std::isalnum(c) || c == '_'; }
}  // namespace

AddedTokens::AddedTokens(const nlohmann::json& added, const std::string& source) {
  if (added.is_null()) return;
  KVSVD_CHECK(added.is_array(), source, ": 'added_tokens' must be an array");
  for (size_t i = 0; i < added.size(); ++i) {
    const auto& t = added[i];
    const std::string where = cat(source, ": added_tokens[", i, "]");
    KVSVD_CHECK(t.is_object() && t.contains("id") && t["id"].is_number_integer() &&
                    t.contains("content") && t["content"].is_string(),
                where, " must be an object with an integer 'id' and a string 'content'");
    AddedToken tok;
    tok.content = t["content"].get<std::string>();
    // Checked before the narrowing: 2^32 + 5 must not alias token 5.
    const nlohmann::json& id = t["id"];
    KVSVD_CHECK(id.is_number_unsigned() ? id.get<uint64_t>() <= uint64_t(INT32_MAX)
                                        : id.get<int64_t>() >= 0 && id.get<int64_t>() <= INT32_MAX,
                where, ": id ", id.dump(), " outside [0, 2^31)");
    tok.id = static_cast<int32_t>(id.get<int64_t>());
    KVSVD_CHECK(!tok.content.empty(), where, ": empty content");
    KVSVD_CHECK(utf8::first_invalid(tok.content) == std::string::npos, where,
                ": content is not valid UTF-8");
    tok.special = t.value("special", false);
    tok.lstrip = t.value("lstrip", false);
    tok.rstrip = t.value("rstrip", false);
    tok.single_word = t.value("single_word", false);
    tokens_.push_back(std::move(tok));
  }
  for (uint32_t i = 0; i < tokens_.size(); ++i)
    by_first_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  for (auto& list : by_first_)
    std::stable_sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
}

bool AddedTokens::find(std::string_view text, size_t from, Match& m) const {
  if (tokens_.empty()) return false;
  for (size_t i = from; i < text.size(); ++i) {
    const auto& cands = by_first_[static_cast<unsigned char>(text[i])];
    for (uint32_t c : cands) {
      const AddedToken& t = tokens_[c];
      const size_t len = t.content.size();
      if (len > text.size() - i || std::memcmp(text.data() + i, t.content.data(), len) != 0)
        continue;
      size_t start = i, end = i + len;
      if (t.single_word) {
        const bool left_ok = start == 0 || !ascii_word(static_cast<unsigned char>(text[start - 1]));
        const bool right_ok = end == text.size() || !ascii_word(static_cast<unsigned char>(text[end]));
        if (!left_ok || !right_ok) continue;
      }
      if (t.lstrip) {
        // Never reaches back past `from`: that text belongs to the previous match.
        while (start > from) {
          size_t cp_start = 0;
          const uint32_t cp = utf8::prev_code_point(text, start, cp_start);
          if (cp_start < from || !utf8::is_whitespace(cp)) break;
          start = cp_start;
        }
      }
      if (t.rstrip) {
        while (end < text.size()) {
          size_t j = end;
          if (!utf8::is_whitespace(utf8::next_code_point(text, j))) break;
          end = j;
        }
      }
      m = {start, end, t.id};
      return true;
    }
  }
  return false;
}

}  // namespace kvsvd
