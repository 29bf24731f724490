// YAML configs read into a stage's CLI11 app: a key is a flag's name with '_' for '-'
// (seq_len <-> --seq-len), a list gives the flag several values, a map ({low: 16, high: 64})
// gives one "low=16,high=64". Every value goes through the flag's own checks.
#pragma once
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace kvsvd {

// "seq_len" for --seq-len (the first long name).
std::string option_key(const CLI::Option& opt);
// The keys a config of `app` may set: every flag but --help and --config, in declaration order.
std::vector<std::string> option_keys(const CLI::App& app);

// Sets the flag of `key` from `node` alone (whatever it held before is dropped) and runs its checks
// and callback. Errors name "source:LINE: key".
void set_option_from_yaml(CLI::App& app, const std::string& key, const YAML::Node& node,
                          const std::string& source);

// Reads the YAML map at `path` into `app` after app.parse: flags given on the command line keep
// their values, the file's keys override defaults and environment variables. An unknown key is an
// error naming the file, its line and the valid keys; `what` names the file's kind in errors
// ("an evaluate config").
void apply_yaml_config(CLI::App& app, const std::string& path, const std::string& what);

// app.parse of `args` as they would follow the program and subcommand names.
void parse_args(CLI::App& app, std::vector<std::string> args);

}  // namespace kvsvd
