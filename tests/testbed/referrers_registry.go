// A registry that implements the OCI 1.1 referrers API, for tests/attest.rs: go-containerregistry's
// own registry (github.com/google/go-containerregistry/pkg/registry, Debian's
// golang-github-google-go-containerregistry-dev), with its referrers endpoint switched on. This
// file only configures and serves it; every request is answered by that library. Debian's
// docker-registry (distribution 2.8) has no referrers API, and neither does distribution 3.0.
//
// Built and started by tests/testbed/referrers-registry.sh. Storage is in memory: a test pushes
// what it needs. Listens on loopback only.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5002", "address to listen on (loopback)")
	flag.Parse()
	server := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler:           registry.New(registry.WithReferrersSupport(true)),
	}
	log.Printf("referrers registry (go-containerregistry pkg/registry) on %s", *addr)
	log.Fatal(server.ListenAndServe())
}
