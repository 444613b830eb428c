package handlers

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/slipway-ci/slipway/models"
)

// TestLoadTestLiveFeedChecksOrigin: the chart's socket authenticates with
// the session cookie, which rides along on a handshake any site opens, so
// it takes the log socket's Origin check: a matching Origin opens, a
// missing or foreign one is refused before the upgrade.
func TestLoadTestLiveFeedChecksOrigin(t *testing.T) {
	ls := newLogServer(t, models.Config{})
	env := ls.environment("shop", "127.0.0.1:1", false)
	l := &models.LoadTest{ProjectID: env.ProjectID, EnvironmentID: env.ID, Spec: "{}"}
	if err := ls.store.CreateLoadTest(context.Background(), l, 0); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/loadtests/%d/live", l.ID)
	tests := []struct {
		name   string
		origin string
		want   int
	}{
		{"a handshake from this site opens", "self", http.StatusSwitchingProtocols},
		{"a handshake without Origin is refused", "", http.StatusForbidden},
		{"a handshake from another site is refused", "http://evil.example", http.StatusForbidden},
		{"a handshake from a look-alike host is refused", "http://127.0.0.1.evil.example", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("Cookie", sessionCookie+"="+ls.session)
			switch tt.origin {
			case "self":
				h.Set("Origin", ls.srv.URL)
			case "":
			default:
				h.Set("Origin", tt.origin)
			}
			conn, resp, err := websocket.DefaultDialer.Dial(ls.wsURL(path), h)
			if conn != nil {
				conn.Close()
			}
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
