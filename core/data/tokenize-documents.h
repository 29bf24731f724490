// Documents -> token ids through any encoder (a std::function, so core/data builds without the
// tokenizer library). Torch-free.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace kvsvd {

using TextEncoder = std::function<TokenIds(const std::string&)>;

// Encodes every document in order. Errors: no documents, or all documents encode to nothing
// (both name `source`); an encoder error is rethrown with the document index and `source` added.
std::vector<TokenIds> tokenize_documents(const std::vector<std::string>& docs,
                                         const TextEncoder& encode, const std::string& source);

}  // namespace kvsvd
