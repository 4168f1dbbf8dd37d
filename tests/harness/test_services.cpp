// Reads the service addresses that tests/harness/service.sh leaves in the build folder.
#include "tests/harness/test_services.h"

#include <cstdlib>
#include <fstream>

namespace towerstream::test_services {
namespace {

Result<std::string> Address(const char* env_name, const std::string& file,
                            const std::string& fixture) {
  if (const char* value = std::getenv(env_name); value != nullptr && *value != '\0') {
    return std::string(value);
  }
  std::ifstream in(file);
  std::string address;
  if (!in || !std::getline(in, address) || address.empty()) {
    return Status::Unavailable(
        "no " + fixture + " address in " + file + ": run the test through ctest (the '" + fixture +
        "' fixture starts it; e.g. ctest --test-dir BUILD -L integration) or set " + env_name);
  }
  return address;
}

}  // namespace

std::string ServicesDir() {
  if (const char* dir = std::getenv("TOWERSTREAM_TEST_SERVICES_DIR"); dir != nullptr && *dir) {
    return dir;
  }
  return TOWERSTREAM_TEST_SERVICES_DIR;
}

Result<std::string> KafkaBootstrap() {
  return Address("TOWERSTREAM_TEST_KAFKA_BOOTSTRAP", ServicesDir() + "/kafka/bootstrap", "kafka");
}

Result<std::string> PrometheusAddress() {
  return Address("TOWERSTREAM_TEST_PROMETHEUS_ADDRESS", ServicesDir() + "/prometheus/address",
                 "prometheus");
}

Result<std::string> MlflowAddress() {
  return Address("TOWERSTREAM_TEST_MLFLOW_ADDRESS", ServicesDir() + "/mlflow/address", "mlflow");
}

}  // namespace towerstream::test_services
