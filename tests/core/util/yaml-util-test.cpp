// core/util/yaml-util: scalar readers name the source and line; values must be valid UTF-8.
#include <string>

#include "core/util/error.h"
#include "core/util/yaml-util.h"
#include "support/catch.h"

namespace {

std::string error_of(const std::string& text) {
  try {
    const YAML::Node n = kvsvd::parse_yaml(text, "cfg.yaml");
    kvsvd::yaml_string(n["path"], "path", "cfg.yaml");
  } catch (const kvsvd::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("yaml_string accepts UTF-8 and refuses other bytes, naming the file and key") {
  const YAML::Node ok = kvsvd::parse_yaml("path: \"caf\xC3\xA9/\xF0\x9F\x98\x80.txt\"\n", "cfg.yaml");
  CHECK(kvsvd::yaml_string(ok["path"], "path", "cfg.yaml") == "caf\xC3\xA9/\xF0\x9F\x98\x80.txt");
  // Latin-1 e-acute, an overlong '/', a UTF-16 surrogate, a truncated 3-byte sequence.
  for (const std::string bad : {"caf\xE9", "a\xC0\xAF", "\xED\xA0\x80", "x\xE2\x82"}) {
    const std::string msg = error_of("path: \"" + bad + "\"\n");
    INFO(msg);
    CHECK(msg.find("cfg.yaml") != std::string::npos);
    CHECK(msg.find("path") != std::string::npos);
    CHECK(msg.find("not valid UTF-8") != std::string::npos);
  }
}
