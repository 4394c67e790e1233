// Package rpctypes holds the etcd server errors go-micro's etcd registry compares against.
package rpctypes

import "errors"

// ErrLeaseNotFound is etcd's answer for a lease it does not know.
var ErrLeaseNotFound = errors.New("etcdserver: requested lease not found")
