package fence

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestModuleKeepsItsFences checks the module's real import graph, as
// `go list -deps` reports it for every package (tests excluded: a test may
// drive the whole portal).
func TestModuleKeepsItsFences(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", Module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	g := Graph{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 {
			g[f[0]] = f[1:]
		}
	}
	// The graph must be the real one, or the check below proves nothing.
	for _, p := range []string{Module + "/handlers", Module + "/internal/logs/live", Module + "/views/pages", Module + "/models", Module + "/jobs"} {
		if _, ok := g[p]; !ok {
			t.Fatalf("go list did not report %s", p)
		}
	}
	for _, v := range Check(g, Rules) {
		t.Error(v)
	}
}

// TestCheckNamesTheChain runs the checker on made-up graphs: each breaks
// one rule, directly or through other packages, and the message must name
// the whole chain.
func TestCheckNamesTheChain(t *testing.T) {
	const m = Module + "/"
	echo := "github.com/labstack/echo/v4"
	tests := []struct {
		name string
		g    Graph
		want []string
	}{
		{"an engine importing Echo through another engine", Graph{
			m + "internal/logs/live": {m + "internal/termhtml", "strings"},
			m + "internal/termhtml":  {m + "internal/helper"},
			m + "internal/helper":    {echo + "/middleware"},
		}, []string{
			"engines in internal/ never import Echo, handlers, views or jobs: internal/helper → github.com/labstack/echo/v4/middleware",
			"engines in internal/ never import Echo, handlers, views or jobs: internal/logs/live → internal/termhtml → internal/helper → github.com/labstack/echo/v4/middleware",
			"engines in internal/ never import Echo, handlers, views or jobs: internal/termhtml → internal/helper → github.com/labstack/echo/v4/middleware",
		}},
		{"an engine importing jobs", Graph{m + "internal/runner": {m + "jobs"}},
			[]string{"engines in internal/ never import Echo, handlers, views or jobs: internal/runner → jobs"}},
		{"views importing an engine", Graph{m + "views/pages": {m + "views/components", m + "models", m + "internal/logs"}},
			[]string{"views import nothing app-level but models: views/pages → internal/logs"}},
		{"models importing the deploy engine through a third-party package", Graph{
			m + "models":          {"example.com/glue"},
			"example.com/glue":    {m + "internal/deploy"},
			m + "internal/deploy": {},
		}, []string{"models never import handlers, views, jobs, internal/deploy or internal/runner: models → example.com/glue → internal/deploy"}},
		{"jobs importing handlers", Graph{m + "jobs": {m + "internal/logs"}, m + "internal/logs": {m + "handlers"}}, []string{
			"engines in internal/ never import Echo, handlers, views or jobs: internal/logs → handlers",
			"jobs never import handlers, views or Echo: jobs → internal/logs → handlers",
		}},
		{"a command importing the test harness", Graph{m + "cmd/slipway": {m + "internal/testkit"}},
			[]string{"only tests import internal/testkit: cmd/slipway → internal/testkit"}},
		{"a graph that keeps every fence", Graph{
			m + "handlers":    {echo, m + "views/pages", m + "jobs", m + "internal/logs/live"},
			m + "views/pages": {m + "models", "github.com/a-h/templ"},
			m + "jobs":        {m + "models", m + "internal/runner"},
			m + "models":      {"gorm.io/gorm"},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range Check(tt.g, Rules) {
				got = append(got, v.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
