// Command etcd: etcd's server (go.etcd.io/etcd/server/v3 at the version in go.mod) built as its
// own module for the tests' real apiserver (test/kube). `go install go.etcd.io/etcd/server/v3@…`
// does not work (etcd's go.mod replaces point at ../ directories), a wrapper module does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
