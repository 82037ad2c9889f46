#pragma once

#include "inference/model_config.pb.h"
#include "runtime/core/data_type.h"

namespace gridserve::core {

// TYPE_FP32 -> kFp32, TYPE_STRING -> kBytes; kInvalid for TYPE_INVALID and unknown values.
DataType DataTypeFromConfig(inference::DataType type);

// kFp32 -> TYPE_FP32, kBytes -> TYPE_STRING.
inference::DataType DataTypeToConfig(DataType type);

}  // namespace gridserve::core
