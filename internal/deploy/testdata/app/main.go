// Command app is the small HTTP server the deploy tests run as a release.
//
// It listens on 127.0.0.1:$PORT and answers "/" with $VERSION (after
// ?sleep=<ms> or $SLEEP_MS milliseconds), "/healthz" with 200 (503 when
// $FAIL_HEALTH=1), "/headers" with the forwarding headers it received, and
// "/ws" as a websocket echo. With $EXIT_AT_ONCE=1 it prints a message and
// exits with status 3 before listening. SIGTERM ends it at once, without
// finishing requests, so that only the edge's draining protects them.
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	version := os.Getenv("VERSION")
	fmt.Printf("app %s starting\n", version)
	if os.Getenv("EXIT_AT_ONCE") == "1" {
		fmt.Fprintln(os.Stderr, "fatal: told to exit at once")
		os.Exit(3)
	}
	defaultSleep, _ := strconv.Atoi(os.Getenv("SLEEP_MS"))

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ms := defaultSleep
		if s := r.URL.Query().Get("sleep"); s != "" {
			ms, _ = strconv.Atoi(s)
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprint(w, version)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("FAIL_HEALTH") == "1" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Host=%s\n", r.Host)
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			fmt.Fprintf(w, "%s=%s\n", h, r.Header.Get(h))
		}
	})
	mux.HandleFunc("/cookies", func(w http.ResponseWriter, r *http.Request) {
		// A hostile app tries to plant a portal session in the browser.
		http.SetCookie(w, &http.Cookie{Name: "slipway_session", Value: "planted", Path: "/"})
		http.SetCookie(w, &http.Cookie{Name: "app_pref", Value: "dark", Path: "/"})
		fmt.Fprintf(w, "Cookie=%s\n", r.Header.Get("Cookie"))
	})
	upgrader := websocket.Upgrader{}
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, msg); err != nil {
				return
			}
		}
	})

	addr := "127.0.0.1:" + os.Getenv("PORT")
	fmt.Printf("listening on %s\n", addr)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
