// Command app is the release the deploy tests ship in their artifacts.
//
// It answers "/" with the contents of version.txt (in its working
// directory) plus, after a dash, the value of $GREETING and $TOKEN;
// "/healthz" with 200 (503 with --fail-health); "/slow?ms=N" after N
// milliseconds. With --exit it prints a message and exits with status 3
// before listening; with --start-delay=D it waits D before listening. It
// listens on $HOST:$PORT, or on every interface with --listen-all.
// "/say?msg=M" prints M on stdout.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	exit := flag.Bool("exit", false, "exit at once")
	failHealth := flag.Bool("fail-health", false, "fail the health check")
	delay := flag.Duration("start-delay", 0, "wait before listening")
	listenAll := flag.Bool("listen-all", false, "listen on every interface instead of $HOST")
	flag.Parse()
	raw, err := os.ReadFile("version.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "no version.txt:", err)
		os.Exit(2)
	}
	version := strings.TrimSpace(string(raw))
	fmt.Printf("app %s starting\n", version)
	if *exit {
		fmt.Fprintln(os.Stderr, "fatal: told to exit at once")
		os.Exit(3)
	}
	time.Sleep(*delay)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s-%s-%s", version, os.Getenv("GREETING"), os.Getenv("TOKEN"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprint(w, version)
	})
	mux.HandleFunc("/say", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("msg"))
		fmt.Fprint(w, "said")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if *failHealth {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
	addr := os.Getenv("HOST") + ":" + os.Getenv("PORT")
	if *listenAll {
		addr = ":" + os.Getenv("PORT")
	}
	fmt.Printf("listening on %s\n", addr)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
