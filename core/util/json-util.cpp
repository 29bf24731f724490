#include "core/util/json-util.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "core/util/error.h"

namespace kvsvd {

std::string read_text_file(const std::string& path) {
  struct stat st {};
  KVSVD_CHECK(::stat(path.c_str(), &st) == 0, "cannot open ", path, ": ", std::strerror(errno));
  KVSVD_CHECK(!S_ISDIR(st.st_mode), "cannot read ", path, ": it is a directory");
  std::ifstream in(path, std::ios::binary);
  KVSVD_CHECK(in.good(), "cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  KVSVD_CHECK(!in.bad(), "error while reading ", path);
  return ss.str();
}

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail(cat(source, ": malformed JSON: ", e.what()));
  }
}

nlohmann::json load_json_file(const std::string& path) {
  return parse_json(read_text_file(path), path);
}

bool json_has(const nlohmann::json& obj, const std::string& key) {
  if (!obj.is_object()) return false;
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

const nlohmann::json& json_require(const nlohmann::json& obj, const std::string& key,
                                   const std::string& source) {
  KVSVD_CHECK(obj.is_object(), source, ": expected a JSON object holding key '", key, "'");
  auto it = obj.find(key);
  KVSVD_CHECK(it != obj.end() && !it->is_null(), source, ": missing required key '", key, "'");
  return *it;
}

namespace {

int64_t as_int(const nlohmann::json& v, const std::string& key, const std::string& source) {
  if (v.is_number_integer()) return v.get<int64_t>();
  // 4096.0 is written by some exporters; accept an integral float, refuse 4096.5.
  if (v.is_number_float()) {
    double d = v.get<double>();
    KVSVD_CHECK(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15, source,
                ": key '", key, "' must be an integer, got ", v.dump());
    return static_cast<int64_t>(d);
  }
  fail(cat(source, ": key '", key, "' must be an integer, got ", v.dump()));
}

double as_number(const nlohmann::json& v, const std::string& key, const std::string& source) {
  KVSVD_CHECK(v.is_number(), source, ": key '", key, "' must be a number, got ", v.dump());
  return v.get<double>();
}

std::string as_string(const nlohmann::json& v, const std::string& key, const std::string& source) {
  KVSVD_CHECK(v.is_string(), source, ": key '", key, "' must be a string, got ", v.dump());
  return v.get<std::string>();
}

bool as_bool(const nlohmann::json& v, const std::string& key, const std::string& source) {
  KVSVD_CHECK(v.is_boolean(), source, ": key '", key, "' must be true or false, got ", v.dump());
  return v.get<bool>();
}

}  // namespace

int64_t json_int(const nlohmann::json& obj, const std::string& key, const std::string& source) {
  return as_int(json_require(obj, key, source), key, source);
}
double json_number(const nlohmann::json& obj, const std::string& key, const std::string& source) {
  return as_number(json_require(obj, key, source), key, source);
}
std::string json_string(const nlohmann::json& obj, const std::string& key,
                        const std::string& source) {
  return as_string(json_require(obj, key, source), key, source);
}
bool json_bool(const nlohmann::json& obj, const std::string& key, const std::string& source) {
  return as_bool(json_require(obj, key, source), key, source);
}

int64_t json_int_or(const nlohmann::json& obj, const std::string& key, int64_t fallback,
                    const std::string& source) {
  return json_has(obj, key) ? as_int(obj.at(key), key, source) : fallback;
}
double json_number_or(const nlohmann::json& obj, const std::string& key, double fallback,
                      const std::string& source) {
  return json_has(obj, key) ? as_number(obj.at(key), key, source) : fallback;
}
std::string json_string_or(const nlohmann::json& obj, const std::string& key,
                           const std::string& fallback, const std::string& source) {
  return json_has(obj, key) ? as_string(obj.at(key), key, source) : fallback;
}
bool json_bool_or(const nlohmann::json& obj, const std::string& key, bool fallback,
                  const std::string& source) {
  return json_has(obj, key) ? as_bool(obj.at(key), key, source) : fallback;
}

}  // namespace kvsvd
