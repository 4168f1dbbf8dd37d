// A checker for the subset of JSON Schema 2020-12 used in schemas/, so tests can hold the
// encoders to the schema files without a validator dependency.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace towerstream::events::testing {

// Reads schemas/<name>.schema.json (tests run from the repository root); throws on failure.
nlohmann::json LoadSchema(const std::string& name);

// The ways `value` violates `schema`, each "<path>: <problem>"; empty when it conforms.
// `root` is the schema document that "#/$defs/<name>" references resolve in. Keywords outside
// the supported subset are reported as violations, so no keyword goes silently unchecked.
std::vector<std::string> SchemaViolations(const nlohmann::json& value, const nlohmann::json& schema,
                                          const nlohmann::json& root);

}  // namespace towerstream::events::testing
