// Scalars from option text (YAML values and command-line flags); errors name `where`.
#pragma once
#include <cstdint>
#include <string>

namespace kvsvd {

std::string trim(const std::string& s);  // strips spaces and tabs at both ends
int64_t to_int(const std::string& text, const std::string& where);
double to_double(const std::string& text, const std::string& where);
bool to_bool(const std::string& text, const std::string& where);  // true/false, yes/no, on/off, 1/0

}  // namespace kvsvd
