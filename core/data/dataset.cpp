#include "core/data/dataset.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "core/util/error.h"
#include "core/util/json-util.h"

namespace kvsvd {

std::vector<TokenIds> read_token_id_json(const std::string& path) {
  nlohmann::json doc;
  try {
    doc = load_json_file(path);
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range 406 for 1e999
    fail(cat(path, ": malformed JSON: ", e.what()));
  }
  KVSVD_CHECK(doc.is_array(), path, ": expected a JSON array of arrays of token ids");
  KVSVD_CHECK(!doc.empty(), path, ": empty dataset (no documents)");
  std::vector<TokenIds> docs;
  docs.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    const auto& d = doc[i];
    KVSVD_CHECK(d.is_array(), path, ": element [", i, "] must be an array of token ids, got ",
                d.type_name());
    TokenIds ids;
    ids.reserve(d.size());
    for (size_t j = 0; j < d.size(); ++j) {
      const auto& v = d[j];
      KVSVD_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0 &&
                      v.get<int64_t>() <= std::numeric_limits<int32_t>::max(),
                  path, ": element [", i, "][", j, "] must be a token id (integer in [0, 2^31)), got ",
                  v.dump());
      ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
    docs.push_back(std::move(ids));
  }
  return docs;
}

namespace {

std::vector<std::string> read_jsonl(const std::string& path, const std::string& text,
                                    const std::string& field) {
  std::vector<std::string> docs;
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Blank lines (a trailing newline, a separator) carry no document.
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
      fail(cat(path, ":", line_no, ": not a JSON line: ", e.what()));
    }
    KVSVD_CHECK(obj.is_object(), path, ":", line_no, ": expected a JSON object, got ",
                obj.type_name());
    auto it = obj.find(field);
    KVSVD_CHECK(it != obj.end(), path, ":", line_no, ": missing field '", field, "'");
    KVSVD_CHECK(it->is_string(), path, ":", line_no, ": field '", field,
                "' must be a string, got ", it->type_name());
    docs.push_back(it->get<std::string>());
  }
  return docs;
}

}  // namespace

std::vector<std::string> read_text_documents(const std::string& path, TextFormat fmt,
                                             const std::string& field,
                                             const std::string& separator) {
  const std::string text = read_text_file(path);
  std::vector<std::string> docs;
  if (fmt == TextFormat::Jsonl) {
    KVSVD_CHECK(!field.empty(), path, ": the JSONL field name is empty");
    docs = read_jsonl(path, text, field);
  } else if (separator.empty()) {
    if (!text.empty()) docs.push_back(text);
  } else {
    // Empty pieces (two separators in a row, one at either end) are not documents.
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t end = text.find(separator, pos);
      if (end == std::string::npos) end = text.size();
      if (end > pos) docs.push_back(text.substr(pos, end - pos));
      pos = end + separator.size();
    }
  }
  KVSVD_CHECK(!docs.empty(), path, ": empty dataset (no documents",
              fmt == TextFormat::Jsonl ? " in the JSONL lines" : "", ")");
  return docs;
}

}  // namespace kvsvd
