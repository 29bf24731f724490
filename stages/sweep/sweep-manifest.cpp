#include "stages/sweep/sweep-manifest.h"

#include "core/util/error.h"
#include "core/util/json-util.h"

namespace kvsvd {

namespace {

std::vector<std::string> string_list(const nlohmann::json& obj, const std::string& key,
                                     const std::string& source) {
  const auto& arr = json_require(obj, key, source);
  KVSVD_CHECK(arr.is_array(), source, ": '", key, "' must be an array of strings");
  std::vector<std::string> out;
  for (const auto& v : arr) {
    KVSVD_CHECK(v.is_string(), source, ": '", key, "' must be an array of strings");
    out.push_back(v.get<std::string>());
  }
  return out;
}

ManifestRun run_from_json(const nlohmann::json& j, int64_t index, const std::string& source) {
  const std::string where = cat(source, ": runs[", index, "]");
  KVSVD_CHECK(j.is_object(), where, " must be an object");
  ManifestRun r;
  r.id = json_int_or(j, "id", index, where);
  KVSVD_CHECK(r.id == index, where, ": 'id' is ", r.id, " but the run is at index ", index,
              " (array task ids index the list)");
  r.name = json_string(j, "name", where);
  r.profile_id = json_string_or(j, "profile_id", "", where);
  r.method = json_string_or(j, "method", "", where);
  r.dataset = json_string_or(j, "dataset", "", where);
  r.args = string_list(j, "args", where);
  r.out_dir = json_string(j, "out_dir", where);
  return r;
}

}  // namespace

nlohmann::json manifest_to_json(const Manifest& m) {
  nlohmann::json j;
  j["schema"] = kManifestSchema;
  j["schema_version"] = kManifestSchemaVersion;
  j["name"] = m.name;
  j["sweep_file"] = m.sweep_file;
  j["profiles"] = nlohmann::json::array();
  for (const auto& p : m.profiles)
    j["profiles"].push_back({{"id", p.id}, {"args", p.args}, {"store_path", p.store_path}});
  j["runs"] = nlohmann::json::array();
  for (const auto& r : m.runs) {
    nlohmann::json jr = {{"id", r.id},         {"name", r.name},       {"method", r.method},
                         {"dataset", r.dataset}, {"args", r.args},     {"out_dir", r.out_dir}};
    jr["profile_id"] = r.profile_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.profile_id);
    j["runs"].push_back(jr);
  }
  j["report"] = {{"args", m.report_args}, {"out_dir", m.report_dir}};
  return j;
}

Manifest load_manifest(const std::string& path) {
  const std::string text = read_text_file(path);
  nlohmann::json doc;
  bool json_lines = false;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error&) {
    json_lines = true;  // several top-level values: one run per line
  }
  Manifest m;
  std::vector<nlohmann::json> runs;
  if (json_lines) {
    size_t line_no = 0, start = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      const std::string line = text.substr(start, end - start);
      ++line_no;
      start = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      runs.push_back(parse_json(line, cat(path, ":", line_no)));
    }
  } else if (doc.is_array()) {
    for (const auto& r : doc) runs.push_back(r);
  } else {
    KVSVD_CHECK(doc.is_object(), path, ": a manifest must be an object, an array or JSON lines");
    const std::string schema = json_string(doc, "schema", path);
    KVSVD_CHECK(schema == kManifestSchema, path, ": 'schema' is '", schema, "', expected '",
                kManifestSchema, "'");
    const int64_t version = json_int(doc, "schema_version", path);
    KVSVD_CHECK(version == kManifestSchemaVersion, path, ": 'schema_version' ", version,
                " is not supported (this kvsvd reads ", kManifestSchemaVersion, ")");
    m.name = json_string_or(doc, "name", "", path);
    m.sweep_file = json_string_or(doc, "sweep_file", "", path);
    const auto& profiles = json_require(doc, "profiles", path);
    KVSVD_CHECK(profiles.is_array(), path, ": 'profiles' must be an array");
    for (size_t i = 0; i < profiles.size(); ++i) {
      const std::string where = cat(path, ": profiles[", i, "]");
      ManifestProfile p;
      p.id = json_string(profiles[i], "id", where);
      p.args = string_list(profiles[i], "args", where);
      p.store_path = json_string(profiles[i], "store_path", where);
      m.profiles.push_back(p);
    }
    const auto& rs = json_require(doc, "runs", path);
    KVSVD_CHECK(rs.is_array(), path, ": 'runs' must be an array");
    for (const auto& r : rs) runs.push_back(r);
    if (json_has(doc, "report")) {
      const auto& rep = doc["report"];
      m.report_args = string_list(rep, "args", cat(path, ": report"));
      m.report_dir = json_string_or(rep, "out_dir", "", cat(path, ": report"));
    }
  }
  for (size_t i = 0; i < runs.size(); ++i)
    m.runs.push_back(run_from_json(runs[i], static_cast<int64_t>(i), path));
  for (const auto& r : m.runs) {
    if (r.profile_id.empty() || m.profiles.empty()) continue;
    bool found = false;
    for (const auto& p : m.profiles) found = found || p.id == r.profile_id;
    KVSVD_CHECK(found, path, ": run '", r.name, "' names profile_id '", r.profile_id,
                "' which is not in 'profiles'");
  }
  return m;
}

}  // namespace kvsvd
