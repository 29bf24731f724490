// The dataset file formats (ids | text | jsonl): one table read by the evaluate and profile flags,
// their YAML keys, the sweep planner and the readers' dispatch.
#pragma once
#include <string>
#include <vector>

namespace kvsvd {

enum class DataFormat { Ids, Text, Jsonl };

// Every format name, in help order.
const std::vector<std::string>& data_format_names();
// Unknown names are errors that name `flag` and list the valid formats.
DataFormat parse_data_format(const std::string& name, const std::string& flag);
const char* data_format_name(DataFormat f);
// `explicit_name` when given, else from the path's extension: .jsonl jsonl, .json ids, else text.
DataFormat effective_data_format(const std::string& explicit_name, const std::string& path);

}  // namespace kvsvd
