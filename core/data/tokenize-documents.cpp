#include "core/data/tokenize-documents.h"

#include "core/util/error.h"

namespace kvsvd {

std::vector<TokenIds> tokenize_documents(const std::vector<std::string>& docs,
                                         const TextEncoder& encode, const std::string& source) {
  KVSVD_CHECK(!docs.empty(), source, ": empty dataset (no documents)");
  KVSVD_CHECK(static_cast<bool>(encode), source, ": no encoder given");
  std::vector<TokenIds> out;
  out.reserve(docs.size());
  size_t tokens = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    try {
      out.push_back(encode(docs[i]));
    } catch (const Error& e) {
      fail(cat(source, ": document ", i, ": ", e.what()));
    }
    tokens += out.back().size();
  }
  KVSVD_CHECK(tokens > 0, source, ": empty dataset (", docs.size(),
              " documents, all encode to no tokens)");
  return out;
}

}  // namespace kvsvd
