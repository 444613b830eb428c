// Command hello is Slipway's demo app: a tiny HTTP service that shows its
// version, answers /healthz, and runs under any environment's edge proxy.
//
// The version comes from the file VERSION next to this one, compiled into
// the binary: "Ship a change" on the demo project commits a new VERSION,
// and the next build carries it.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"html"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

//go:embed VERSION
var versionFile string

// version is what the app says it is: v1, v2, …
var version = strings.TrimSpace(versionFile)

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("hello", version)
		return
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8081"
	}
	started := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, version)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		greeting := os.Getenv("GREETING")
		if greeting == "" {
			greeting = "Hello from Slipway"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>hello %s</title><body style="font-family:sans-serif;margin:3rem">
<h1>%s</h1><p>version <strong data-version>%s</strong> · up %s</p></body>`,
			version, html.EscapeString(greeting), version, time.Since(started).Round(time.Second))
	})
	log.Printf("hello %s listening on 127.0.0.1:%s", version, port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, mux))
}
