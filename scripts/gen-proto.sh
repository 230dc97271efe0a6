#!/usr/bin/env bash
# Regenerates the Go code of proto/ (committed, so building needs none of this):
# buf compiles the .proto files itself (no protoc), with the two Go plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
go install github.com/bufbuild/buf/cmd/buf@v1.75.0
go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
cd proto
buf lint
buf generate
