// Addresses of the services the ctest fixtures `kafka`, `prometheus` and `mlflow` start, for
// tests.
//
// tests/harness starts each service on free ports and writes its address into the build's
// test-services/ folder; these functions read it back. Environment variables override, to run
// a test binary against services started some other way. Stateless; safe from any thread.
#pragma once

#include <string>

#include "common/base/status.h"

namespace towerstream::test_services {

// "127.0.0.1:PORT" of the Kafka broker: $TOWERSTREAM_TEST_KAFKA_BOOTSTRAP, else the file
// <services dir>/kafka/bootstrap. The error says how to start the broker.
Result<std::string> KafkaBootstrap();

// "127.0.0.1:PORT" of the Prometheus server: $TOWERSTREAM_TEST_PROMETHEUS_ADDRESS, else the
// file <services dir>/prometheus/address.
Result<std::string> PrometheusAddress();

// "127.0.0.1:PORT" of the MLflow tracking server: $TOWERSTREAM_TEST_MLFLOW_ADDRESS, else the
// file <services dir>/mlflow/address.
Result<std::string> MlflowAddress();

// Where the fixtures keep their state: $TOWERSTREAM_TEST_SERVICES_DIR, else the build's
// test-services/ folder.
std::string ServicesDir();

}  // namespace towerstream::test_services
