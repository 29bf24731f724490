#include "core/util/yaml-util.h"

#include <cerrno>
#include <cstdint>
#include <cmath>
#include <cstdlib>

#include "core/util/error.h"
#include "core/util/json-util.h"

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

namespace {

// Offset of the first byte that does not start a well-formed UTF-8 sequence (overlong forms,
// surrogates and code points past U+10FFFF included), or npos.
size_t invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;       // continuation bytes
    uint32_t cp = 0;    // the code point
    uint32_t least = 0; // smallest code point of that length (shorter is overlong)
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1Fu, least = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0Fu, least = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07u, least = 0x10000;
    } else {
      return i;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < least || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::string::npos;
}

}  // namespace

std::string yaml_string(const YAML::Node& node, const std::string& what, const std::string& source) {
  KVSVD_CHECK(node.IsScalar(), yaml_where(node, source), ": ", what, " must be a scalar, not ",
              kind_name(node));
  // Values travel into JSON (summary.json, the store's header), which holds UTF-8 only: refuse
  // now, naming the line, rather than fail when a finished run writes its results.
  const size_t bad = invalid_utf8_at(node.Scalar());
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
