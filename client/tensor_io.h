#pragma once

// Conversions between user-facing tensor formats (.npy files, JSON) and the KServe v2 wire form
// (an InferInputTensor / InferOutputTensor description plus raw little-endian contents).
//
// JSON input: strict JSON (RFC 8259: double-quoted strings, no comments or trailing commas), a
// nested array of numbers, booleans or strings, e.g. [[1, 2], [3, 4]]; the shape
// is the nesting ([2, 2]) and a bare scalar is a 0-d tensor (shape []). Every sub-array of a
// level must have the same length and nesting (ragged arrays are rejected). JSON carries no
// element type, so the datatype comes from the model's metadata for that input:
//   BOOL            true/false (or 0/1)
//   integer types   integral numbers inside the type's range; magnitudes of 2^53 and above are
//                   rejected for INT64/UINT64 because JSON numbers are doubles here and would
//                   round silently (use a .npy file for those)
//   FP16 BF16 FP32  numbers, rounded to nearest even; a finite number that does not fit the type
//   FP64            is rejected. The strings "NaN", "Infinity" and "-Infinity" are accepted.
//   BYTES           strings, sent as their UTF-8 bytes
//
// JSON output: {"name": ..., "datatype": ..., "shape": [...], "data": <nested array>} with the
// same nesting rules. Floats print in the shortest form that reads back to the same value;
// NaN and infinities print as the strings "NaN", "Infinity", "-Infinity". BYTES elements print
// as JSON strings: valid UTF-8 passes through (control characters, '"' and '\' escaped); each
// byte that is not part of a valid UTF-8 sequence prints as \u00XX (its value as a Latin-1 code
// point). That keeps text readable but is ambiguous for binary data (byte 0xE9 and the character
// U+00E9 print alike); OutputJsonOptions::bytes_as_base64 prints every BYTES element as standard
// base64 instead, which is exact.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/npy.h"
#include "inference/grpc_service.pb.h"

namespace gridserve::client {

// One request input: its wire description and its raw contents (the matching entry of
// ModelInferRequest.raw_input_contents). A plain value type.
struct InputTensor {
  inference::ModelInferRequest::InferInputTensor tensor;
  std::string raw_contents;
};

// Appends `input` to `request` (tensor and raw contents at the same index). The request must use
// raw contents for all inputs, as this client always does.
void AddInput(InputTensor input, inference::ModelInferRequest* request);

// An input named on the command line as NAME=VALUE.
struct InputSpec {
  std::string name;
  // A path ending in ".npy", a path ending in ".json" (a file holding JSON as above), or
  // anything else: inline JSON.
  std::string value;
};

// Keeps rows [begin, end) of `input`'s first dimension (end -1 = to the last row), e.g. to send
// rows 0:64 of an evaluation file that holds more rows than the model's max_batch_size.
// INVALID_ARGUMENT naming the input when it is a scalar or the range is empty or outside it.
absl::Status SliceRows(int64_t begin, int64_t end, InputTensor* input);

// Splits "NAME=VALUE" at the first '='. INVALID_ARGUMENT if NAME or VALUE is empty.
absl::StatusOr<InputSpec> ParseInputSpec(absl::string_view spec);

// Largest .json input file read, bytes. JSON costs far more memory once parsed than a .npy file;
// use .npy for large tensors.
inline constexpr uint64_t kMaxJsonInputFileBytes = 256ull << 20;

// Builds the input named by `spec` for the model described by `metadata`. INVALID_ARGUMENT if the
// model has no input of that name, the value cannot be read or parsed, or an .npy file's datatype
// differs from the model's; NOT_FOUND if a named file does not exist. Messages name the input.
absl::StatusOr<InputTensor> LoadInput(const InputSpec& spec,
                                      const inference::ModelMetadataResponse& metadata);

// An input from a decoded .npy array; its datatype and shape are the array's.
InputTensor InputFromNpy(absl::string_view name, NpyArray array);

// An input from JSON text (see the top of this file) with the given KServe datatype.
absl::StatusOr<InputTensor> InputFromJson(absl::string_view name, absl::string_view json,
                                          absl::string_view datatype);

struct OutputJsonOptions {
  // Default false: BYTES elements print as (escaped) text. True: each prints as base64.
  bool bytes_as_base64 = false;
};

// Prints one output as JSON. `raw` is its raw_output_contents entry. INVALID_ARGUMENT if `raw`
// does not hold exactly the elements the shape and datatype call for (the server is not trusted
// for sizes either), or the datatype is unknown.
absl::StatusOr<std::string> OutputToJson(
    const inference::ModelInferResponse::InferOutputTensor& output, absl::string_view raw,
    const OutputJsonOptions& options = {});

// Prints a whole response as
//   {"model_name": ..., "model_version": ..., "id": ..., "outputs": [<OutputToJson>, ...]}
// with one output per line. Outputs may come as raw_output_contents (one entry per output) or,
// from servers that use them, typed `contents`; FP16/BF16 have no typed form.
absl::StatusOr<std::string> ResponseToJson(const inference::ModelInferResponse& response,
                                           const OutputJsonOptions& options = {});

// `bytes` as a quoted JSON string, escaped as described at the top of this file.
std::string JsonQuote(absl::string_view bytes);

}  // namespace gridserve::client
