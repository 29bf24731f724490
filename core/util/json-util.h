// Checked access to JSON documents: every error names the source file and the key.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace kvsvd {

// Whole file as bytes; the error names the path (missing, unreadable, a directory).
std::string read_text_file(const std::string& path);
// Parses `text`; a syntax error names `source` and the byte position.
nlohmann::json parse_json(const std::string& text, const std::string& source);
nlohmann::json load_json_file(const std::string& path);

// Required members of an object; missing key or wrong type -> error naming key and source.
const nlohmann::json& json_require(const nlohmann::json& obj, const std::string& key,
                                   const std::string& source);
int64_t json_int(const nlohmann::json& obj, const std::string& key, const std::string& source);
double json_number(const nlohmann::json& obj, const std::string& key, const std::string& source);
std::string json_string(const nlohmann::json& obj, const std::string& key,
                        const std::string& source);
bool json_bool(const nlohmann::json& obj, const std::string& key, const std::string& source);

// Optional members: `fallback` when the key is absent or null; a present value of the wrong
// type is still an error (a typo'd type should not silently become the default).
int64_t json_int_or(const nlohmann::json& obj, const std::string& key, int64_t fallback,
                    const std::string& source);
double json_number_or(const nlohmann::json& obj, const std::string& key, double fallback,
                      const std::string& source);
std::string json_string_or(const nlohmann::json& obj, const std::string& key,
                           const std::string& fallback, const std::string& source);
bool json_bool_or(const nlohmann::json& obj, const std::string& key, bool fallback,
                  const std::string& source);

// True when `obj` is an object holding `key` with a non-null value.
bool json_has(const nlohmann::json& obj, const std::string& key);

}  // namespace kvsvd
