// Command render prints the manifests of a Kubernetes overlay: make k8s-render OVERLAY=dev.
package main

import (
	"fmt"
	"os"

	"github.com/gomicro-stack/gomicro-stack/test/deploy"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: render deploy/kubernetes/overlays/<name>")
		os.Exit(2)
	}
	out, err := deploy.Render(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
