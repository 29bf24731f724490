#include "core/util/yaml-util.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/util/error.h"
#include "core/util/json-util.h"
#include "core/util/utf8.h"

namespace kvsvd {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

const char* kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "empty";
    default: return "undefined";
  }
}

}  // namespace

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // yaml-cpp marks are 0-based; editors count from 1.
    fail(cat(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": malformed YAML: ", e.msg));
  }
}

YAML::Node load_yaml_file(const std::string& path) { return parse_yaml(read_text_file(path), path); }

std::string yaml_where(const YAML::Node& node, const std::string& source) {
  if (!node.IsDefined()) return source;
  const YAML::Mark m = node.Mark();
  if (m.is_null() || m.line < 0) return source;
  return cat(source, ":", m.line + 1);
}

void yaml_require_map(const YAML::Node& node, const std::string& what, const std::string& source) {
  KVSVD_CHECK(node.IsMap(), yaml_where(node, source), ": ", what, " must be a map (key: value), not ",
              kind_name(node));
}

void yaml_require_seq(const YAML::Node& node, const std::string& what, const std::string& source) {
  KVSVD_CHECK(node.IsSequence(), yaml_where(node, source), ": ", what, " must be a list, not ",
              kind_name(node));
}

void yaml_check_keys(const YAML::Node& node, const std::vector<std::string>& allowed,
                     const std::string& what, const std::string& source) {
  yaml_require_map(node, what, source);
  for (auto it = node.begin(); it != node.end(); ++it) {
    KVSVD_CHECK(it->first.IsScalar(), yaml_where(it->first, source), ": ", what,
                " has a key that is not a plain name");
    const std::string key = it->first.Scalar();
    bool ok = false;
    for (const auto& a : allowed) ok = ok || a == key;
    KVSVD_CHECK(ok, yaml_where(it->first, source), ": unknown key '", key, "' in ", what,
                " (valid: ", join(allowed), ")");
  }
}

std::string yaml_string(const YAML::Node& node, const std::string& what, const std::string& source) {
  KVSVD_CHECK(node.IsScalar(), yaml_where(node, source), ": ", what, " must be a scalar, not ",
              kind_name(node));
  // Values travel into JSON (summary.json, the store's header), which holds UTF-8 only: refuse
  // now, naming the line, rather than fail when a finished run writes its results.
  const size_t bad = utf8::first_invalid(node.Scalar());
  KVSVD_CHECK(bad == std::string::npos, yaml_where(node, source), ": ", what,
              " is not valid UTF-8 (byte ", bad, " of the value)");
  return node.Scalar();
}

int64_t yaml_int(const YAML::Node& node, const std::string& what, const std::string& source) {
  const std::string s = yaml_string(node, what, source);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  KVSVD_CHECK(!s.empty() && end && *end == '\0' && errno == 0, yaml_where(node, source), ": ", what,
              " must be an integer, got '", s, "'");
  return static_cast<int64_t>(v);
}

double yaml_number(const YAML::Node& node, const std::string& what, const std::string& source) {
  const std::string s = yaml_string(node, what, source);
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  KVSVD_CHECK(!s.empty() && end && *end == '\0' && errno == 0 && std::isfinite(v),
              yaml_where(node, source), ": ", what, " must be a number, got '", s, "'");
  return v;
}

std::vector<YAML::Node> yaml_items(const YAML::Node& node, const std::string& what,
                                   const std::string& source) {
  std::vector<YAML::Node> out;
  if (node.IsSequence()) {
    KVSVD_CHECK(node.size() > 0, yaml_where(node, source), ": ", what, " is an empty list");
    for (const auto& n : node) out.push_back(n);
  } else {
    KVSVD_CHECK(node.IsScalar() || node.IsMap(), yaml_where(node, source), ": ", what,
                " must be a value or a list of values");
    out.push_back(node);
  }
  return out;
}

}  // namespace kvsvd
