// The JSON Schema subset checker: type, const, enum, pattern, numeric and length bounds,
// items, required, properties and local $ref; annotations are skipped.
#include "tests/events/schema_checker.h"

#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <stdexcept>

namespace towerstream::events::testing {
namespace {

using nlohmann::json;

bool HasType(const json& value, const std::string& type) {
  if (type == "integer") {
    return value.is_number_integer() ||
           (value.is_number_float() && value.get<double>() == std::trunc(value.get<double>()));
  }
  if (type == "number") return value.is_number();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  if (type == "array") return value.is_array();
  if (type == "object") return value.is_object();
  throw std::invalid_argument("unknown type '" + type + "'");
}

size_t CodePoints(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

void Check(const json& value, const json& schema, const json& root, const std::string& path,
           std::vector<std::string>* out) {
  static const std::set<std::string> kAnnotations = {"$schema", "$id",    "$defs",
                                                     "title",   "format", "description"};
  auto violation = [&](const std::string& problem) {
    out->push_back((path.empty() ? "/" : path) + ": " + problem);
  };
  for (const auto& [keyword, arg] : schema.items()) {
    if (kAnnotations.contains(keyword)) continue;
    if (keyword == "$ref") {
      const std::string ref = arg.get<std::string>();
      const std::string prefix = "#/$defs/";
      if (ref.rfind(prefix, 0) != 0) {
        violation("unsupported $ref " + ref);
      } else {
        Check(value, root.at("$defs").at(ref.substr(prefix.size())), root, path, out);
      }
    } else if (keyword == "type") {
      const json types = arg.is_array() ? arg : json::array({arg});
      bool any = false;
      for (const json& t : types) any = any || HasType(value, t.get<std::string>());
      if (!any) violation(value.dump() + " is not of type " + arg.dump());
    } else if (keyword == "const") {
      if (value != arg) violation(value.dump() + " is not " + arg.dump());
    } else if (keyword == "enum") {
      bool any = false;
      for (const json& option : arg) any = any || value == option;
      if (!any) violation(value.dump() + " is not one of " + arg.dump());
    } else if (keyword == "pattern") {
      if (value.is_string() &&
          !std::regex_search(value.get<std::string>(), std::regex(arg.get<std::string>()))) {
        violation(value.dump() + " does not match " + arg.dump());
      }
    } else if (keyword == "minimum" || keyword == "maximum" || keyword == "exclusiveMinimum") {
      if (!value.is_number()) continue;
      const double v = value.get<double>(), bound = arg.get<double>();
      const bool ok = keyword == "minimum"   ? v >= bound
                      : keyword == "maximum" ? v <= bound
                                             : v > bound;
      if (!ok) violation(value.dump() + " violates " + keyword + " " + arg.dump());
    } else if (keyword == "minLength" || keyword == "maxLength") {
      if (!value.is_string()) continue;
      const size_t n = CodePoints(value.get<std::string>()), bound = arg.get<size_t>();
      if (keyword == "minLength" ? n < bound : n > bound) {
        violation(value.dump() + " violates " + keyword + " " + arg.dump());
      }
    } else if (keyword == "items") {
      if (!value.is_array()) continue;
      for (size_t i = 0; i < value.size(); ++i) {
        Check(value[i], arg, root, path + "/" + std::to_string(i), out);
      }
    } else if (keyword == "required") {
      if (!value.is_object()) continue;
      for (const json& name : arg) {
        if (!value.contains(name.get<std::string>())) violation("missing " + name.dump());
      }
    } else if (keyword == "properties") {
      if (!value.is_object()) continue;
      for (const auto& [name, sub] : arg.items()) {
        if (value.contains(name)) Check(value.at(name), sub, root, path + "/" + name, out);
      }
    } else {
      violation("unsupported keyword '" + keyword + "'");
    }
  }
}

}  // namespace

nlohmann::json LoadSchema(const std::string& name) {
  const std::string path = "schemas/" + name + ".schema.json";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path + " (run from the repository root)");
  return json::parse(in);
}

std::vector<std::string> SchemaViolations(const nlohmann::json& value, const nlohmann::json& schema,
                                          const nlohmann::json& root) {
  std::vector<std::string> violations;
  Check(value, schema, root, "", &violations);
  return violations;
}

}  // namespace towerstream::events::testing
