// Package api holds the OpenAPI document of the public API, generated from proto/ by
// tools/protoc-gen-openapi (make proto) and served by the gateway at /openapi.yaml.
package api

import _ "embed"

// OpenAPI is openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
