package delivery_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportFence keeps delivery an engine: nothing it links, directly or
// not, may be the HTTP layer (Echo, handlers, views) or the River workers.
func TestImportFence(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	banned := []string{"github.com/labstack/echo", "github.com/slipway-ci/slipway/handlers", "github.com/slipway-ci/slipway/views",
		"github.com/slipway-ci/slipway/jobs", "github.com/riverqueue/river"}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if dep == b || strings.HasPrefix(dep, b+"/") {
				t.Errorf("internal/delivery depends on %s", dep)
			}
		}
	}
}
