// Package mvccpb holds the key-value type of etcd's API, as go-micro's etcd registry reads it.
package mvccpb

// KeyValue is one key with its value and the lease it is attached to.
type KeyValue struct {
	Key            []byte
	CreateRevision int64
	ModRevision    int64
	Version        int64
	Value          []byte
	Lease          int64
}
