package pipeline

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks the promises Parse makes on any input: it never panics,
// every failure is a positioned *Error, and every success satisfies the
// invariants its users rely on without re-checking.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		f.Add(readFixture(f, file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yml", data)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %v (%T) is not a *Error", err, err)
			}
			if perr.File != "f.yml" || perr.Line < 1 || perr.Column < 1 || perr.Msg == "" {
				t.Fatalf("badly positioned error %#v", perr)
			}
			if lines := len(splitLines(data)); perr.Line > lines {
				t.Fatalf("error at line %d of a %d-line file: %v", perr.Line, lines, err)
			}
			if cfg != nil {
				t.Fatalf("Parse returned both a Config and an error")
			}
			return
		}
		checkInvariants(t, cfg)
		again, err := Parse("f.yml", data)
		if err != nil || again.Hash() != cfg.Hash() {
			t.Fatalf("a second Parse of the same bytes differs: %v", err)
		}
	})
}

// checkInvariants asserts what a valid Config always holds.
func checkInvariants(t *testing.T, cfg *Config) {
	t.Helper()
	if len(cfg.Build) == 0 {
		t.Fatal("no steps")
	}
	if cfg.Timeout < MinTimeout || cfg.Timeout > MaxTimeout {
		t.Fatalf("build timeout %v out of bounds", cfg.Timeout)
	}
	names := map[string]bool{}
	for _, s := range cfg.Build {
		if names[s.Name] || !nameRE.MatchString(s.Name) || len(s.Name) > MaxNameLen {
			t.Fatalf("bad or repeated step name %q", s.Name)
		}
		names[s.Name] = true
		if strings.TrimSpace(s.Run) == "" || strings.ContainsRune(s.Run, 0) {
			t.Fatalf("step %q has run %q", s.Name, s.Run)
		}
		if s.Timeout < MinTimeout || s.Timeout > MaxTimeout {
			t.Fatalf("step %q timeout %v out of bounds", s.Name, s.Timeout)
		}
		if s.Line < 1 {
			t.Fatalf("step %q has line %d", s.Name, s.Line)
		}
		checkEnv(t, s.Env, false)
	}
	for _, p := range cfg.Artifact.Paths {
		if clean, problem := cleanArtifactPath(p); problem != "" || clean != p {
			t.Fatalf("artifact path %q kept (%s)", p, problem)
		}
	}
	for _, p := range cfg.Cache.Paths {
		if clean, problem := cleanPath(p, "cache"); problem != "" || clean != p {
			t.Fatalf("cache path %q kept (%s)", p, problem)
		}
	}
	for _, p := range cfg.Cache.KeyFiles {
		if clean, problem := cleanPath(p, "cache key_files"); problem != "" || clean != p {
			t.Fatalf("cache key file %q kept (%s)", p, problem)
		}
	}
	if len(cfg.Cache.KeyFiles) > 0 && len(cfg.Cache.Paths) == 0 {
		t.Fatal("cache key files without paths")
	}
	if cfg.App.Run == "" {
		if cfg.App.Health != "" || cfg.App.Env != nil || cfg.App.HealthTimeout != 0 {
			t.Fatalf("app without run has settings: %+v", cfg.App)
		}
		return
	}
	if len(cfg.Artifact.Paths) == 0 {
		t.Fatal("app without artifact")
	}
	if !strings.HasPrefix(cfg.App.Health, "/") || strings.HasPrefix(cfg.App.Health, "//") {
		t.Fatalf("health path %q", cfg.App.Health)
	}
	if cfg.App.HealthTimeout < MinTimeout || cfg.App.HealthTimeout > MaxHealthTimeout {
		t.Fatalf("health timeout %v out of bounds", cfg.App.HealthTimeout)
	}
	checkEnv(t, cfg.App.Env, true)
}

func checkEnv(t *testing.T, env map[string]string, app bool) {
	t.Helper()
	for k, v := range env {
		if !envNameRE.MatchString(k) || strings.HasPrefix(strings.ToUpper(k), "SLIPWAY_") || (app && k == "PORT") {
			t.Fatalf("env name %q kept", k)
		}
		if strings.ContainsRune(v, 0) {
			t.Fatalf("env %s holds a NUL", k)
		}
	}
}
