#include "stages/app/yaml-options.h"

#include <CLI/CLI.hpp>

#include <algorithm>

#include "core/util/error.h"
#include "core/util/text-parse.h"
#include "core/util/yaml-util.h"
#include "stages/app/option-check.h"

namespace kvsvd {

namespace {

bool is_config_key(const CLI::Option& opt) {
  const auto& names = opt.get_lnames();
  return !names.empty() && names[0] != "help" && names[0] != "config";
}

CLI::Option* find_option(CLI::App& app, const std::string& key) {
  for (CLI::Option* opt : app.get_options())
    if (is_config_key(*opt) && option_key(*opt) == key) return opt;
  return nullptr;
}

// The text values of a node: a scalar, a list of scalars, or a map of scalars as "k=v,k=v".
std::vector<std::string> yaml_values(const YAML::Node& node, const std::string& key,
                                     const std::string& source) {
  std::vector<std::string> out;
  if (node.IsMap()) {
    std::string joined;
    for (auto it = node.begin(); it != node.end(); ++it)
      joined += cat(joined.empty() ? "" : ",", yaml_string(it->first, key, source), "=",
                    yaml_string(it->second, key, source));
    out.push_back(joined);
  } else if (node.IsSequence()) {
    for (const auto& item : yaml_items(node, key, source)) out.push_back(yaml_string(item, key, source));
  } else {
    out.push_back(yaml_string(node, key, source));
  }
  return out;
}

}  // namespace

std::string option_key(const CLI::Option& opt) {
  std::string key = opt.get_lnames().at(0);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

std::vector<std::string> option_keys(const CLI::App& app) {
  std::vector<std::string> keys;
  for (const CLI::Option* opt : app.get_options())
    if (is_config_key(*opt)) keys.push_back(option_key(*opt));
  return keys;
}

void set_option_from_yaml(CLI::App& app, const std::string& key, const YAML::Node& node,
                          const std::string& source) {
  CLI::Option* opt = find_option(app, key);
  KVSVD_ASSERT(opt != nullptr, "no flag for key '", key, "'");
  const std::string where = cat(yaml_where(node, source), ": ", key);
  std::vector<std::string> values = yaml_values(node, key, source);
  if (opt->get_expected_min() == 0) {  // a flag: YAML true/false (yes/no, on/off)
    KVSVD_CHECK(values.size() == 1, where, ": takes one true/false value, not a list");
    values[0] = to_bool(values[0], where) ? "true" : "false";
  } else if (opt->get_expected_max() == 1) {
    KVSVD_CHECK(values.size() == 1, where, ": takes one value, not a list");
  }
  try {
    opt->clear();
    opt->add_result(values);
    opt->run_callback();  // the flag's checks, then its value into the bound options
  } catch (const OptionValueError& e) {
    fail(cat(where, e.detail()));
  } catch (const CLI::ParseError& e) {
    fail(cat(where, ": ", e.what()));
  } catch (const Error& e) {
    fail(cat(where, ": ", e.what()));
  }
}

void apply_yaml_config(CLI::App& app, const std::string& path, const std::string& what) {
  const YAML::Node root = load_yaml_file(path);
  if (root.IsNull()) return;  // an empty file sets nothing
  yaml_require_map(root, what, path);
  yaml_check_keys(root, option_keys(app), what, path);
  const auto& given = app.parse_order();  // options read from the command line
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->second.IsNull()) continue;
    const std::string key = it->first.Scalar();
    const CLI::Option* opt = find_option(app, key);
    if (std::find(given.begin(), given.end(), opt) != given.end()) continue;  // the flag wins
    set_option_from_yaml(app, key, it->second, path);
  }
}

void parse_args(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 reads the vector from its back
  app.parse(args);
}

}  // namespace kvsvd
