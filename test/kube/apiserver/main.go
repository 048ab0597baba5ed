// Command kube-apiserver: upstream's cmd/kube-apiserver/apiserver.go (k8s.io/kubernetes at the
// version in go.mod), built as its own module for the tests' real apiserver (test/kube). Test
// infrastructure only; see test/kube/assets.ts for how it is built and cached.
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	command := app.NewAPIServerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
