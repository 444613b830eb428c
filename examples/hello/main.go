// Command hello is Slipway's demo app: a tiny HTTP service that shows its
// version, answers /healthz, and runs under any environment's edge proxy.
package main

import (
	"fmt"
	"html"
	"log"
	"net/http"
	"os"
	"time"
)

// version is the string the demo bumps to show a new release going out.
const version = "v1"

func main() {
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
	log.Printf("hello %s listening on :%s", version, port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, mux))
}
