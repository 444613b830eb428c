// Command app is the small HTTP server the deploy tests run as a release.
//
// It listens on 127.0.0.1:$PORT and answers "/" with $VERSION (after
// ?sleep=<ms> or $SLEEP_MS milliseconds), "/healthz" with 200 (503 when
// $FAIL_HEALTH=1), "/headers" with the forwarding headers it received, and
// "/ws" as a websocket echo, "/whoami" with $VERSION/$SLIPWAY_INSTANCE,
// "/echo" with the request body, "/say?line=<text>" by printing the text
// on stdout, and "/cpu" after ?n=<k> rounds of SHA-256
// (a CPU-bound handler). "/?fail=<k>" answers 500 and "/hangup?on=<k>"
// closes the connection without an answer on instance k. With
// $EXIT_AT_ONCE=1 (or $FAIL_INSTANCE naming this instance) it prints a
// message and exits with status 3 before listening. SIGTERM ends it at once, without
// finishing requests, so that only the edge's draining protects them.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

func main() {
	version := os.Getenv("VERSION")
	fmt.Printf("app %s starting\n", version)
	self := os.Getenv("SLIPWAY_INSTANCE")
	if os.Getenv("EXIT_AT_ONCE") == "1" || (self != "" && os.Getenv("FAIL_INSTANCE") == self) {
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
		if r.URL.Query().Get("fail") == self {
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, version)
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("sleep"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "%s/%s", version, self)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s/%s:%s", version, self, b)
	})
	mux.HandleFunc("/say", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("line"))
		fmt.Fprint(w, "said")
	})
	mux.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("on") != self {
			fmt.Fprintf(w, "%s/%s", version, self)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	})
	mux.HandleFunc("/cpu", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		sum := sha256.Sum256([]byte(version))
		for range n {
			sum = sha256.Sum256(sum[:])
		}
		fmt.Fprintf(w, "%x", sum[:4])
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
