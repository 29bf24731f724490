// The flags of `kvsvd report`, declared once: the command line, its help and the sweep planner's
// check of the report job all read this declaration.
#pragma once
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kvsvd {

struct ReportArgs {
  std::vector<std::string> inputs;  // run folders, summary.json files, folders of run folders
  std::string out;
  double reduction = 2.0;  // --target-memory-reduction (>= 1)
  double loss = 0.05;      // --max-quality-loss (>= 0)
  std::string store;
  bool no_plots = false;
  std::string gnuplot = "gnuplot";
};

// Declares every flag of `kvsvd report` on `app`, bound to `a` (defaults shown in --help).
void add_report_options(CLI::App& app, ReportArgs& a);
// `args` (what follows `kvsvd report`) through that same app. Throws kvsvd::Error or
// CLI::ParseError.
ReportArgs parse_report_args(const std::vector<std::string>& args);

}  // namespace kvsvd
