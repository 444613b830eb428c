package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// maxBody bounds a request body.
const maxBody = 4 << 20

// Handler is the control API:
//
//	GET    /v1/info                  the edge process (pid, version, dirs, sandbox)
//	GET    /v1/envs                  every environment's status
//	GET    /v1/env?env=K             one environment's status (404 when unknown)
//	GET    /v1/env/desired?env=K     its desired state
//	PUT    /v1/env?env=K             replace the desired state (body: Desired; 409 on a generation mismatch)
//	DELETE /v1/env?env=K&generation=N stop and forget it
//	GET    /v1/events                app output lines and instance events, one JSON object per line
//	GET    /v1/output?env=K&release=R&after=N  the kept output lines of release R after line N (a Backlog)
//	POST   /v1/upgrade               start the new binary and hand the listeners over
func (d *Daemon) Handler(upgrade func() error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+APIVersion+"/info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.Info())
	})
	mux.HandleFunc("GET "+APIVersion+"/envs", func(w http.ResponseWriter, r *http.Request) {
		out := []Status{}
		for _, name := range d.Envs() {
			st, _ := d.Status(name)
			out = append(out, st)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET "+APIVersion+"/env", func(w http.ResponseWriter, r *http.Request) {
		env := r.URL.Query().Get("env")
		st, ok := d.Status(env)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no environment %q on this edge", env), 0)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET "+APIVersion+"/env/desired", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.Desired(r.URL.Query().Get("env")))
	})
	mux.HandleFunc("PUT "+APIVersion+"/env", func(w http.ResponseWriter, r *http.Request) {
		var want Desired
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&want); err != nil {
			writeError(w, http.StatusBadRequest, "the body is not a desired state: "+err.Error(), 0)
			return
		}
		if env := r.URL.Query().Get("env"); env != want.Env {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("env %q in the URL and %q in the body differ", env, want.Env), 0)
			return
		}
		gen, err := d.Put(want)
		if err != nil {
			writeAPIError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int64{"generation": gen})
	})
	mux.HandleFunc("DELETE "+APIVersion+"/env", func(w http.ResponseWriter, r *http.Request) {
		gen, err := strconv.ParseInt(r.URL.Query().Get("generation"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "generation must be a number", 0)
			return
		}
		if err := d.Delete(r.URL.Query().Get("env"), gen); err != nil {
			writeAPIError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+APIVersion+"/events", d.events)
	mux.HandleFunc("GET "+APIVersion+"/output", d.output)
	mux.HandleFunc("POST "+APIVersion+"/upgrade", func(w http.ResponseWriter, r *http.Request) {
		if upgrade == nil {
			writeError(w, http.StatusConflict, "this edge runs inside the portal and cannot be upgraded on its own", 0)
			return
		}
		if err := upgrade(); err != nil {
			writeError(w, http.StatusConflict, "upgrade failed: "+err.Error(), 0)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "handed over"})
	})
	return mux
}

// events streams messages until the client goes away.
func (d *Daemon) events(w http.ResponseWriter, r *http.Request) {
	ch, lost := d.subscribe()
	defer d.unsubscribe(ch)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	_ = enc.Encode(Message{Type: "ping"})
	_ = rc.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.leaving:
			return
		case m := <-ch:
			if enc.Encode(m) != nil {
				return
			}
		case <-ping.C:
			if enc.Encode(Message{Type: "ping"}) != nil {
				return
			}
		}
		// Send what is queued in one write.
		for n := len(ch); n > 0; n-- {
			if enc.Encode(<-ch) != nil {
				return
			}
		}
		// After what was queued when messages were dropped: the client
		// reads the lines from the backlog.
		if lost.Swap(false) && enc.Encode(Message{Type: "lost"}) != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// output answers the backlog of a release's output after a line.
func (d *Daemon) output(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	env := q.Get("env")
	rel, err := strconv.ParseInt(q.Get("release"), 10, 64)
	switch {
	case env == "":
		writeError(w, http.StatusBadRequest, "env is empty", 0)
		return
	case err != nil || rel <= 0:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("release %q is not a positive number", q.Get("release")), 0)
		return
	}
	after := int64(0)
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < -1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("after %q is not a line number (or -1 for none)", s), 0)
			return
		}
	}
	bl, err := d.Backlog(env, rel, after)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "read the output journal: "+err.Error(), 0)
		return
	}
	writeJSON(w, http.StatusOK, bl)
}

func writeAPIError(w http.ResponseWriter, err error) {
	var ce *conflictError
	var ie *invalidError
	switch {
	case errors.As(err, &ce):
		writeError(w, http.StatusConflict, err.Error(), ce.current)
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, err.Error(), 0)
	case errors.Is(err, errHandedOver):
		writeError(w, http.StatusServiceUnavailable, err.Error(), 0)
	default:
		slog.Default().Warn("edge: api error", slog.Any("err", err))
		writeError(w, http.StatusInternalServerError, err.Error(), 0)
	}
}

func writeError(w http.ResponseWriter, code int, msg string, gen int64) {
	writeJSON(w, code, apiError{Error: msg, Generation: gen})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
