// Package fence holds the import rules of DESIGN.md section 2 as data and
// a checker that finds where a dependency graph breaks them; its test
// runs the checker on the module's real graph (go list), so a package
// that crosses a fence fails the build's tests with the import chain.
package fence

import (
	"fmt"
	"slices"
	"strings"
)

// Module is the module's import path.
const Module = "github.com/slipway-ci/slipway"

// Graph maps an import path to the paths it imports directly.
type Graph map[string][]string

// Rule is one fence: packages matching From must not import a package
// matching Forbidden — directly when Direct is set, otherwise through any
// chain of imports.
type Rule struct {
	Name      string
	From      func(pkg string) bool
	Forbidden func(imp string) bool
	Direct    bool
}

// Violation is one broken rule: the chain runs from the importing
// package to the forbidden one.
type Violation struct {
	Rule  string
	Chain []string
}

func (v Violation) String() string {
	short := make([]string, len(v.Chain))
	for i, p := range v.Chain {
		short[i] = strings.TrimPrefix(strings.TrimPrefix(p, Module+"/"), Module)
		if short[i] == "" {
			short[i] = p
		}
	}
	return fmt.Sprintf("%s: %s", v.Rule, strings.Join(short, " → "))
}

// app returns whether p is one of the module's packages, and its path
// inside the module ("" for the root).
func app(p string) (string, bool) {
	if p == Module {
		return "", true
	}
	rel, ok := strings.CutPrefix(p, Module+"/")
	return rel, ok
}

// under reports whether p is the module's package dir or one below it.
func under(p string, dirs ...string) bool {
	rel, ok := app(p)
	if !ok {
		return false
	}
	for _, d := range dirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

func isEcho(p string) bool {
	return p == "github.com/labstack/echo" || strings.HasPrefix(p, "github.com/labstack/echo/")
}

// Rules are the fences of DESIGN.md section 2.
var Rules = []Rule{
	{
		Name:      "engines in internal/ never import Echo, handlers, views or jobs",
		From:      func(p string) bool { return under(p, "internal") },
		Forbidden: func(p string) bool { return isEcho(p) || under(p, "handlers", "views", "jobs") },
	},
	{
		Name: "views import nothing app-level but models",
		From: func(p string) bool { return under(p, "views") },
		Forbidden: func(p string) bool {
			_, ok := app(p)
			return ok && !under(p, "views", "models")
		},
		Direct: true,
	},
	{
		Name: "models never import handlers, views, jobs, internal/deploy or internal/runner",
		From: func(p string) bool { return under(p, "models") },
		Forbidden: func(p string) bool {
			return under(p, "handlers", "views", "jobs", "internal/deploy", "internal/runner")
		},
	},
	{
		Name: "only tests import internal/testkit",
		From: func(p string) bool {
			_, ok := app(p)
			// Test-support packages (doratest, notifytest, …) serve tests only.
			return ok && !under(p, "internal/testkit") && !strings.HasSuffix(p, "test")
		},
		Forbidden: func(p string) bool { return under(p, "internal/testkit") },
	},
	{
		Name:      "jobs never import handlers, views or Echo",
		From:      func(p string) bool { return under(p, "jobs") },
		Forbidden: func(p string) bool { return isEcho(p) || under(p, "handlers", "views") },
	},
}

// Check returns every package of g that breaks a rule, each with the
// shortest import chain that breaks it, in a stable order.
func Check(g Graph, rules []Rule) []Violation {
	pkgs := make([]string, 0, len(g))
	for p := range g {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	var out []Violation
	for _, r := range rules {
		for _, p := range pkgs {
			if !r.From(p) {
				continue
			}
			if chain := find(g, p, r); chain != nil {
				out = append(out, Violation{Rule: r.Name, Chain: chain})
			}
		}
	}
	return out
}

// find returns the shortest chain from p to a package r forbids (breadth
// first, imports in sorted order), or nil.
func find(g Graph, p string, r Rule) []string {
	prev := map[string]string{p: ""}
	queue := []string{p}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		imps := slices.Clone(g[cur])
		slices.Sort(imps)
		for _, imp := range imps {
			if _, seen := prev[imp]; seen {
				continue
			}
			prev[imp] = cur
			if r.Forbidden(imp) {
				var chain []string
				for n := imp; n != ""; n = prev[n] {
					chain = append(chain, n)
				}
				slices.Reverse(chain)
				return chain
			}
			if !r.Direct {
				queue = append(queue, imp)
			}
		}
	}
	return nil
}
