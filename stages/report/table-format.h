// Number and cell formatting shared by the report's Markdown and CSV writers.
#pragma once
#include <string>

namespace kvsvd {

// Fixed decimals; NaN or infinity (a figure not recorded) shows as `missing`.
std::string fmt_fixed(double x, int decimals, const char* missing = "-");
// Full precision for CSV (%.10g); empty when not recorded.
std::string fmt_full(double x);
// A CSV field, quoted when it holds a comma, quote or newline.
std::string csv_field(const std::string& s);
// A Markdown table cell: '|' escaped.
std::string md_cell(const std::string& s);

}  // namespace kvsvd
