#include "core/data/data-format.h"

#include "core/util/error.h"

namespace kvsvd {

const std::vector<std::string>& data_format_names() {
  static const std::vector<std::string> names = {"ids", "text", "jsonl"};  // DataFormat order
  return names;
}

const char* data_format_name(DataFormat f) {
  return data_format_names()[static_cast<size_t>(f)].c_str();
}

DataFormat parse_data_format(const std::string& name, const std::string& flag) {
  const auto& names = data_format_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<DataFormat>(i);
  std::string valid;
  for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
  fail(cat(flag, ": unknown data format '", name, "' (valid: ", valid, ")"));
}

DataFormat effective_data_format(const std::string& explicit_name, const std::string& path) {
  if (!explicit_name.empty()) return parse_data_format(explicit_name, "format");
  auto ends_with = [&](const std::string& suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".jsonl")) return DataFormat::Jsonl;
  if (ends_with(".json")) return DataFormat::Ids;
  return DataFormat::Text;
}

}  // namespace kvsvd
