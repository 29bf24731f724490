// The one table of KV-cache methods (name + description): used by flag parsing, help text and results.
#pragma once
#include <string>
#include <vector>

namespace kvsvd {

enum class KvMethod { Full, Svd, Chunked, Quant };

struct KvMethodInfo {
  KvMethod method;
  const char* name;         // as written on the command line and in results
  const char* description;  // one line for --help
};

// Every method, in help order.
const std::vector<KvMethodInfo>& kv_methods();
const char* kv_method_name(KvMethod m);
// Parses a method name; the error names `flag` and lists the valid methods.
KvMethod parse_kv_method(const std::string& name, const std::string& flag = "--method");
// "full: ...\nsvd: ...\n..." for CLI help, generated from the table.
std::string kv_methods_help();

}  // namespace kvsvd
