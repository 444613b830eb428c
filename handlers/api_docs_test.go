package handlers

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
)

// apiDocSection matches a route's heading in docs/api.md:
// ### `GET /api/v1/projects/{slug}`
var apiDocSection = regexp.MustCompile("^#{2,4} `([A-Z]+) (/[^` ]*)`")

// echoParam is one of Echo's path parameters (":slug").
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// docPath writes a route path the way docs/api.md does: Echo's :param
// becomes {param}.
func docPath(path string) string {
	return echoParam.ReplaceAllString(path, "{$1}")
}

// inAPIReference reports whether a route belongs in docs/api.md: every
// JSON API route, plus the webhook receiver and the operations endpoints
// that scripts and monitoring call.
func inAPIReference(path string) bool {
	switch path {
	case "/hooks/:slug", "/healthz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/api/")
}

// documentedRoutes reads the route headings of docs/api.md as
// "METHOD /path" keys.
func documentedRoutes(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("../docs/api.md")
	if err != nil {
		t.Fatalf("the API reference is missing: %v", err)
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := apiDocSection.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]+" "+m[2]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAPIDocsCoverEveryRoute keeps docs/api.md honest: it walks the
// registered routes (as the RBAC matrix does) and wants one section per
// API route, and no section for a route that does not exist.
func TestAPIDocsCoverEveryRoute(t *testing.T) {
	ts := newTestServer(t)
	documented := documentedRoutes(t)
	registered := map[string]bool{}
	for _, r := range ts.e.Routes() {
		if r.Method == echo.RouteNotFound || !inAPIReference(r.Path) {
			continue
		}
		registered[r.Method+" "+docPath(r.Path)] = true
	}
	if len(registered) == 0 {
		t.Fatal("found no API routes to check: did the route registration change?")
	}

	t.Run("every registered API route has a section in docs/api.md", func(t *testing.T) {
		var missing []string
		for key := range registered {
			if !documented[key] {
				missing = append(missing, key)
			}
		}
		slices.Sort(missing)
		for _, key := range missing {
			t.Errorf("route %s is not documented in docs/api.md: add a section headed ### `%s`", key, key)
		}
	})
	t.Run("every section of docs/api.md names a registered route", func(t *testing.T) {
		var stale []string
		for key := range documented {
			if !registered[key] {
				stale = append(stale, key)
			}
		}
		slices.Sort(stale)
		for _, key := range stale {
			t.Errorf("docs/api.md documents %s, but no such route is registered: remove or fix the section", key)
		}
	})
}

// permissionConstants reads the Permission constants declared in
// internal/auth/permission.go, by value ("projects.view"), so a new
// permission cannot be missed by the roles table of docs/operations.md.
func permissionConstants(t *testing.T) []auth.Permission {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../internal/auth/permission.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []auth.Permission
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Permission" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, auth.Permission(s))
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("found no Permission constants in internal/auth/permission.go")
	}
	return out
}

// roleTableRow matches a row of the roles table in docs/operations.md:
// | `projects.view` | what it allows | ✓ | ✓ | – | … |
var roleTableRow = regexp.MustCompile("^\\| `([a-z_.]+)` \\|")

// TestOperationsDocRolesTable checks the roles table of docs/operations.md
// against internal/auth's permission table: one row per permission, and a
// ✓ exactly where the role holds it.
func TestOperationsDocRolesTable(t *testing.T) {
	raw, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[auth.Permission][]string{}
	var header []string
	for _, line := range strings.Split(string(raw), "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) > 2 && cells[0] == "permission" {
			header = cells
			continue
		}
		if m := roleTableRow.FindStringSubmatch(line); m != nil && header != nil {
			rows[auth.Permission(m[1])] = cells
		}
	}
	if header == nil {
		t.Fatal("docs/operations.md has no roles table (a row starting with | permission |)")
	}
	col := map[auth.Role]int{}
	for _, r := range auth.Roles {
		i := slices.Index(header, string(r))
		if i < 0 {
			t.Fatalf("the roles table has no column for role %s", r)
		}
		col[r] = i
	}
	perms := permissionConstants(t)
	t.Run("every row names a declared permission", func(t *testing.T) {
		for p := range rows {
			if !slices.Contains(perms, p) {
				t.Errorf("docs/operations.md has a row for %s, which internal/auth does not declare", p)
			}
		}
	})
	for _, p := range perms {
		t.Run(string(p)+" is documented with the roles that hold it", func(t *testing.T) {
			cells, ok := rows[p]
			if !ok {
				t.Fatalf("docs/operations.md has no row for permission %s", p)
			}
			for _, r := range auth.Roles {
				if col[r] >= len(cells) {
					t.Fatalf("the row of %s has no cell for role %s", p, r)
				}
				marked, holds := cells[col[r]] == "✓", auth.Can(r, p)
				if marked != holds {
					t.Errorf("the table says %s %s %s, but internal/auth says it %s", r, verb(marked), p, verb(holds))
				}
			}
		})
	}
}

// verb words whether a role holds a permission.
func verb(holds bool) string {
	if holds {
		return "holds"
	}
	return "lacks"
}
