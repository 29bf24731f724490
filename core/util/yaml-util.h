// Checked access to YAML documents: every error names the file and the 1-based line of the node.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace kvsvd {

// Parses the file; a syntax error names the path, line and column.
YAML::Node load_yaml_file(const std::string& path);
// Parses `text`; errors name `source` (a file name or "<string>").
YAML::Node parse_yaml(const std::string& text, const std::string& source);

// "source:LINE" for a node read from `source` (just "source" when the node has no mark).
std::string yaml_where(const YAML::Node& node, const std::string& source);

// `node` must be a map / a sequence; `what` names it in the error ("sweep", "profiles[2]").
void yaml_require_map(const YAML::Node& node, const std::string& what, const std::string& source);
void yaml_require_seq(const YAML::Node& node, const std::string& what, const std::string& source);

// Every key of the map `node` must be in `allowed`; else the error names the key, its line, `what`
// and the valid keys. Also rejects non-scalar keys.
void yaml_check_keys(const YAML::Node& node, const std::vector<std::string>& allowed,
                     const std::string& what, const std::string& source);

// Scalar conversions; errors name `what` and the node's line. Integers reject fractions and junk.
std::string yaml_string(const YAML::Node& node, const std::string& what, const std::string& source);
int64_t yaml_int(const YAML::Node& node, const std::string& what, const std::string& source);
double yaml_number(const YAML::Node& node, const std::string& what, const std::string& source);

// The scalars of a sequence, or a single scalar as a one-element list.
std::vector<YAML::Node> yaml_items(const YAML::Node& node, const std::string& what,
                                   const std::string& source);

}  // namespace kvsvd
