//go:build tools

// Package tools pins etcd's server (its main package) for tests/k8s/build.sh.
package tools

import _ "go.etcd.io/etcd/server/v3"
