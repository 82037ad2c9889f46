#pragma once

// KServe requests for the fixture models of make_test_models.py, shared by integration and e2e
// tests. Needs only the generated protocol classes.

#include <cstdint>
#include <string>
#include <vector>

#include "inference/grpc_service.pb.h"

namespace gridserve::testing {

// add_sub (INPUT__0, INPUT__1: FP32 [rows, 4], raw contents); `a` and `b` hold rows x 4 values.
inline inference::ModelInferRequest AddSubRequest(const std::vector<float>& a,
                                                  const std::vector<float>& b) {
  inference::ModelInferRequest req;
  req.set_model_name("add_sub");
  const int64_t rows = static_cast<int64_t>(a.size() / 4);
  for (const auto& [name, values] :
       {std::pair<const char*, const std::vector<float>*>{"INPUT__0", &a}, {"INPUT__1", &b}}) {
    auto* in = req.add_inputs();
    in->set_name(name);
    in->set_datatype("FP32");
    in->add_shape(rows);
    in->add_shape(4);
    req.add_raw_input_contents(
        std::string(reinterpret_cast<const char*>(values->data()), values->size() * sizeof(float)));
  }
  return req;
}

// linear4 (x: FP32 [rows, 1024], raw contents); `x` holds rows x 1024 values.
inline inference::ModelInferRequest Linear4Request(const std::vector<float>& x) {
  inference::ModelInferRequest req;
  req.set_model_name("linear4");
  auto* in = req.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(static_cast<int64_t>(x.size() / 1024));
  in->add_shape(1024);
  req.add_raw_input_contents(
      std::string(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float)));
  return req;
}

}  // namespace gridserve::testing
