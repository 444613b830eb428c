package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/secretbox"
	"github.com/slipway-ci/slipway/internal/testkit"
)

// TestBrowserShowsWhichInstancePrintedEachLine runs dev on two instances
// in the edge process and reads the environment page's output viewer:
// each instance's lines carry its number, and the secret both print is
// masked with the label kept.
func TestBrowserShowsWhichInstancePrintedEachLine(t *testing.T) {
	key := secretbox.NewKey()
	p := StartPortal(t, Options{Env: []string{"SLIPWAY_SECRET_KEY=" + key, "SLIPWAY_EDGE=child"}})
	id := seedApp(t, p, key, `echo "token $TOKEN"; exec ./bin/app`)
	token := adminToken(t, p)
	if code, body := apiCall(t, http.MethodPatch, p.URL+"/api/v1/projects/shop/environments/dev", token, `{"instances":2}`); code != http.StatusOK {
		t.Fatalf("PATCH instances 2: %d %s", code, body)
	}
	deployLive(t, p, token, id)

	ctx := NewBrowser(t)
	must(t, Login(ctx, p, "admin", p.AdminPassword))
	must(t, Visit(ctx, p.URL+"/projects/shop/environments/dev"))
	must(t, WaitTestID(ctx, "app-output"))
	var text string
	testkit.Eventually(t, 30*time.Second, func() bool {
		text, _ = TextOf(ctx, "app-output")
		return strings.Contains(text, "[1] token ********") && strings.Contains(text, "[2] token ********")
	}, "both instances' labelled, masked lines in the viewer")
	if strings.Contains(text, appSecret) || strings.Contains(text, "s3cret-") {
		t.Fatalf("the output viewer shows the secret:\n%s", text)
	}
	Screenshot(t, ctx, "env-pool-output")
	phone(t, ctx)
	Screenshot(t, ctx, "env-pool-output-phone")
}
