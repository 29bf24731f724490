// Declares a stage's flags once: each `add` line is the CLI11 option (bound to a member of the
// stage's options struct, its default shown in --help), the YAML config key (the flag's name with
// '_' for '-') and the key of the provenance JSON. Included by the *-options.cpp files only.
//
// Adding a flag is one line in the stage's declare function (plus the member in the options
// struct), e.g.
//   b.add("--rank-budget", &ProfileOptions::rank_budget, "total rank per layer (0: none)");
// with a check from stages/app/option-check.h when the value has a rule:
//   with_check(b.add("--rank-budget", &ProfileOptions::rank_budget, "..."), at_least(0));
// A list: a std::vector member (add ->delimiter(',') for comma lists); a --x/--no-x switch:
// b.flag("--x", &Opts::x, "..."). Nothing else to touch: --help, the YAML key (rank_budget), the
// provenance JSON and the sweep planner's checks follow from that line.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "stages/app/yaml-options.h"

namespace kvsvd {

template <typename Opts>
class OptionBinder {
 public:
  OptionBinder(CLI::App& app, Opts& target) : app_(app), target_(target) {}

  // A flag taking one value, or a list when T is a std::vector (repeat the flag, or give a YAML
  // list; add ->delimiter(',') for comma lists).
  template <typename T>
  CLI::Option* add(const std::string& flag, T Opts::*member, const std::string& help) {
    CLI::Option* opt = app_.add_option(flag, target_.*member, help)->capture_default_str();
    record(*opt, member);
    return opt;
  }

  // --name / --no-name.
  CLI::Option* flag(const std::string& flag, bool Opts::*member, const std::string& help) {
    CLI::Option* opt = app_.add_flag(flag + ",!--no-" + flag.substr(2), target_.*member, help);
    record(*opt, member);
    return opt;
  }

  // The options as a JSON object keyed like the YAML (provenance).
  nlohmann::json to_json(const Opts& o) const {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [key, get] : getters_) j[key] = get(o);
    return j;
  }

 private:
  template <typename T>
  void record(const CLI::Option& opt, T Opts::*member) {
    getters_.emplace_back(option_key(opt),
                          [member](const Opts& o) { return nlohmann::json(o.*member); });
  }

  CLI::App& app_;
  Opts& target_;
  std::vector<std::pair<std::string, std::function<nlohmann::json(const Opts&)>>> getters_;
};

// The JSON of `o` as `declare` lays its flags out (a scratch app: only the keys matter).
template <typename Opts>
nlohmann::json options_to_json(void (*declare)(OptionBinder<Opts>&), const Opts& o) {
  CLI::App app;
  Opts scratch;
  OptionBinder<Opts> b(app, scratch);
  declare(b);
  return b.to_json(o);
}

// `args` (what follows the subcommand's name) through a fresh app that `add` declares, then
// `finish` (config, checks): what a planner uses to check a job it writes.
template <typename Opts>
Opts parse_options(void (*add)(CLI::App&, Opts&), void (*finish)(CLI::App&, Opts&),
                   const std::vector<std::string>& args) {
  CLI::App app;
  Opts o;
  add(app, o);
  parse_args(app, args);
  finish(app, o);
  return o;
}

}  // namespace kvsvd
