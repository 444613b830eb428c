package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validFixtures maps each valid fixture to the Config it must parse into.
var validFixtures = []struct {
	name string
	file string
	want Config
}{
	{
		name: "the sketch in the design parses exactly as written",
		file: "design-sketch.yml",
		want: Config{
			Build: []Step{
				{Name: "test", Run: "go test ./...", Timeout: DefaultStepTimeout, Line: 2},
				{Name: "compile", Run: "go build -o bin/app .", Timeout: DefaultStepTimeout, Line: 4},
			},
			Artifact: Artifact{Paths: []string{"bin/app", "static"}},
			App:      App{Run: "./bin/app", Health: "/healthz", HealthTimeout: DefaultHealthTimeout},
			Timeout:  DefaultBuildTimeout,
		},
	},
	{
		name: "every key set away from its default is kept",
		file: "full.yml",
		want: Config{
			Build: []Step{
				{Name: "deps", Run: "go mod download", Timeout: 5 * time.Minute, Line: 4},
				{
					Name: "test", Run: "go vet ./...\ngo test -race ./...\n", Timeout: DefaultStepTimeout, Line: 7,
					Env: map[string]string{"CGO_ENABLED": "1", "GOFLAGS": "-mod=readonly", "VERBOSE": "true"},
				},
				{Name: "compile", Run: "go build -o bin/app ./cmd/app", Timeout: 90 * time.Second, Line: 15},
			},
			Artifact: Artifact{Paths: []string{"bin/app", "static", "config/production.toml"}},
			Cache:    Cache{Paths: []string{"node_modules", ".tsbuildinfo"}, KeyFiles: []string{"package-lock.json"}},
			App: App{
				Run:           "./bin/app --config config/production.toml",
				Health:        "/healthz?full=1",
				Env:           map[string]string{"LOG_LEVEL": "info", "GOMAXPROCS": "2"},
				HealthTimeout: 2 * time.Minute,
			},
			Timeout: 45 * time.Minute,
		},
	},
	{
		name: "a single step with only run gets every default",
		file: "minimal.yml",
		want: Config{
			Build:   []Step{{Name: "step-1", Run: "make", Timeout: DefaultStepTimeout, Line: 2}},
			Timeout: DefaultBuildTimeout,
		},
	},
	{
		name: "bare strings are steps named after their position",
		file: "string-steps.yml",
		want: Config{
			Build: []Step{
				{Name: "step-1", Run: "make deps", Timeout: DefaultStepTimeout, Line: 3},
				{Name: "test", Run: "make test", Timeout: DefaultStepTimeout, Line: 4},
				{Name: "step-3", Run: "make dist", Timeout: DefaultStepTimeout, Line: 6},
			},
			Timeout: DefaultBuildTimeout,
		},
	},
	{
		name: "an aliased env block is copied into each step",
		file: "anchors.yml",
		want: Config{
			Build: []Step{
				{Name: "test", Run: "make test", Timeout: DefaultStepTimeout, Line: 2,
					Env: map[string]string{"GOFLAGS": "-mod=readonly", "TZ": "UTC"}},
				{Name: "compile", Run: "make", Timeout: DefaultStepTimeout, Line: 7,
					Env: map[string]string{"GOFLAGS": "-mod=readonly", "TZ": "UTC"}},
			},
			Timeout: DefaultBuildTimeout,
		},
	},
	{
		name: "explicit document start and end markers are accepted",
		file: "document-marker.yml",
		want: Config{
			Build:   []Step{{Name: "step-1", Run: "make", Timeout: DefaultStepTimeout, Line: 3}},
			Timeout: DefaultBuildTimeout,
		},
	},
	{
		name: "a tab inside a block scalar is content, not indentation",
		file: "tab-inside-block.yml",
		want: Config{
			Build: []Step{{Name: "makefile", Run: "printf \"a\\tb\\n\" > Makefile\n\tcat Makefile\n",
				Timeout: DefaultStepTimeout, Line: 2}},
			Timeout: DefaultBuildTimeout,
		},
	},
	{
		name: "windows line endings are accepted",
		file: "crlf.yml",
		want: Config{
			Build:    []Step{{Name: "test", Run: "make test", Timeout: DefaultStepTimeout, Line: 2}},
			Artifact: Artifact{Paths: []string{"dist"}},
			Timeout:  DefaultBuildTimeout,
		},
	},
}

// invalidFixtures maps each invalid fixture to its exact error, position first.
var invalidFixtures = []struct {
	name string
	file string
	want string // after "testdata/FILE:"
}{
	{"an empty file is refused at its start", "empty.yml",
		"1:1: the file is empty; it needs at least a build list of steps"},
	{"a file of comments is as empty as an empty one", "comments-only.yml",
		"1:1: the file is empty; it needs at least a build list of steps"},
	{"a null document is empty", "null-document.yml",
		"1:1: the file is empty; it needs at least a build list of steps"},
	{"invalid YAML is refused where the broken construct starts", "invalid-yaml.yml",
		"4:3: invalid YAML: did not find expected ',' or ']'"},
	{"a second document is refused at its separator", "multiple-documents.yml",
		`3:1: the file holds more than one YAML document; remove the "---" separator and keep one`},
	{"a tab in the indentation is refused at the tab", "tab-indent.yml",
		"3:1: found a tab in the indentation; indent YAML with spaces only"},
	{"a top-level list is refused", "top-level-list.yml",
		"1:1: the top level must be a mapping with a build key, got a list"},
	{"a misspelt top-level key is named with a suggestion and the allowed keys", "unknown-top-key.yml",
		`1:1: unknown key "buld" at the top level (did you mean "build"?); allowed keys: build, artifact, cache, app, timeout`},
	{"an unknown step key lists the allowed ones", "unknown-step-key.yml",
		`3:5: unknown key "command" in step 1; allowed keys: name, run, env, timeout`},
	{"a repeated top-level key is refused at its second use", "duplicate-top-key.yml",
		`3:1: key "build" is repeated at the top level (first at line 1)`},
	{"a file without build is refused", "missing-build.yml",
		`1:1: missing required key "build": list the steps that build the project`},
	{"build as a string is a type error", "build-not-list.yml",
		`1:8: build must be a list of steps, got the string "make"`},
	{"an empty build list is refused", "build-empty.yml",
		"1:8: build is empty; add at least one step with a run command"},
	{"a step without run is refused at the step", "step-without-run.yml",
		`2:5: step 1 ("test") has no "run" key; say which command the step runs`},
	{"a blank run is refused", "step-run-empty.yml",
		"3:10: step 1: run is empty; say which command to run"},
	{"run as a list is a type error", "step-run-not-string.yml",
		"3:10: step 1 run must be a string, got a list"},
	{"an empty list item is refused", "step-null.yml",
		"3:4: step 2 is empty; give it a run command"},
	{"two steps with one name are refused at the second", "duplicate-step-names.yml",
		`4:11: step name "test" is already used by step 1 (line 2); step names must be unique`},
	{"an automatic name that collides with an explicit one is refused", "auto-name-collision.yml",
		`4:5: step 2 has no name and its automatic name "step-2" is already used by step 1 (line 2); name one of them`},
	{"a step name with a space is refused", "bad-step-name.yml",
		`2:11: step 1: invalid name "my step": use at most 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
	{"an env name starting with a digit is refused", "env-bad-name.yml",
		`4:7: step 1: invalid env name "1FOO": use letters, digits and '_', not starting with a digit`},
	{"an env name in the SLIPWAY_ namespace is refused", "env-reserved.yml",
		`4:7: step 1: env name "SLIPWAY_TOKEN" is reserved: Slipway sets the SLIPWAY_* variables itself`},
	{"an env variable without a value is refused", "env-null-value.yml",
		`4:13: step 1: env EMPTY has no value; write EMPTY: "" for an empty string`},
	{"env as a list is a type error", "env-not-mapping.yml",
		"3:10: step 1 env must be a mapping of NAME: value, got a list"},
	{"an env value that is a list is a type error", "env-value-list.yml",
		"4:10: step 1: env A must be a string, number or boolean, got a list"},
	{"a timeout without a unit is refused with the fix", "timeout-no-unit.yml",
		`1:10: timeout needs a unit: write "90s" or "90m", not 90`},
	{"a timeout in words is refused", "timeout-invalid.yml",
		`3:14: step 1 timeout: invalid duration "5 minutes"; use a number with a unit, like "90s", "5m" or "1h30m"`},
	{"a zero timeout is refused", "timeout-zero.yml",
		`3:14: step 1 timeout must be at least 1s, got "0s"`},
	{"a build timeout over the cap is refused", "timeout-too-long.yml",
		`1:10: timeout must be at most 24h, got "48h"`},
	{"an absolute artifact path is refused", "artifact-absolute.yml",
		`4:11: artifact path "/usr/bin/app" must be relative to the repository root, not absolute`},
	{"an artifact path with .. is refused", "artifact-dotdot.yml",
		`5:7: artifact path "bin/../../secrets" must not contain ".."; the artifact comes from inside the workspace`},
	{"an unclean artifact path is refused with its clean form", "artifact-unclean.yml",
		`4:11: artifact path "./bin" is not clean; write "bin"`},
	{"a glob is refused", "artifact-glob.yml",
		`4:11: artifact path "dist/*.js" looks like a glob; globs are not supported, list the files or directories`},
	{"a path inside an earlier directory is refused", "artifact-overlap.yml",
		`7:7: artifact path "bin/app" is inside "bin" (line 5), which is already kept`},
	{"a directory holding an earlier path is refused", "artifact-contains.yml",
		`7:7: artifact path "bin" contains "bin/app" (line 5); keep only one of them`},
	{"the same path with and without a slash is a duplicate", "artifact-duplicate.yml",
		`4:24: artifact path "bin/" is listed twice (first at line 4, column 11)`},
	{"a misspelt artifact key gets a suggestion", "artifact-unknown-key.yml",
		`4:3: unknown key "path" in artifact (did you mean "paths"?); allowed keys: paths`},
	{"an artifact without paths is refused", "artifact-missing-paths.yml",
		`3:11: artifact has no "paths" key; list the files or directories the build keeps`},
	{"an empty paths list is refused", "artifact-paths-empty.yml",
		"4:10: artifact paths is empty; list the files or directories the build keeps, or remove the artifact section"},
	{"an app without run is refused", "app-without-run.yml",
		`6:3: app has no "run" key; say which command starts the app (it must listen on $PORT)`},
	{"a health path without a leading slash is refused", "app-health-relative.yml",
		`7:11: app health must be an HTTP path starting with "/", like "/healthz"; got "healthz"`},
	{"a protocol-relative health URL is refused", "app-health-double-slash.yml",
		`7:11: app health "//evil.example/healthz" must be a path on the app and not start with "//"`},
	{"the app may not set PORT", "app-port-reserved.yml",
		`8:5: app: env name "PORT" is reserved: Slipway sets PORT to the port the app must listen on`},
	{"an app without an artifact is refused", "app-without-artifact.yml",
		"3:1: app needs an artifact to run from: add artifact.paths with the files the app needs"},
	{"an unknown app key lists the allowed ones", "app-unknown-key.yml",
		`7:3: unknown key "healthcheck" in app; allowed keys: run, health, health_timeout, env, instances, balance, rollout_batch`},
	{"a health timeout over its cap is refused", "app-health-timeout-too-long.yml",
		`7:19: app health_timeout must be at most 10m, got "1h"`},
	{"a cache path with .. is refused", "cache-dotdot.yml",
		`5:7: cache path "node_modules/../../etc" must not contain ".."; the cache holds only paths inside the workspace`},
	{"an absolute cache path is refused", "cache-absolute.yml",
		`4:11: cache path "/home/build" must be relative to the repository root, not absolute`},
	{"an unclean cache path is refused with its clean form", "cache-unclean.yml",
		`4:11: cache path "./node_modules" is not clean; write "node_modules"`},
	{"a cache path inside another is refused", "cache-overlap.yml",
		`5:5: cache path ".next/cache" is inside ".next" (line 4), which is already kept`},
	{"the pipeline file cannot be a cache path", "cache-pipeline-file.yml",
		`4:11: cache path ".slipway.yml" is part of the checkout; the cache may not replace it`},
	{"a cache without paths is refused", "cache-missing-paths.yml",
		`4:3: cache has no "paths" key; list the files or directories to keep from one build to the next`},
	{"a key file with .. is refused", "cache-key-dotdot.yml",
		`6:7: cache key file "../package-lock.json" must not contain ".."; the cache holds only paths inside the workspace`},
	{"an unknown cache key lists the allowed ones", "cache-unknown-key.yml",
		`5:3: unknown key "key" in cache; allowed keys: paths, key_files`},
	{"cache as a list is a type error", "cache-not-mapping.yml",
		"4:3: cache must be a mapping with a paths list, got a list"},
	{"merge keys are refused", "merge-key.yml",
		"5:5: merge keys (<<) are not supported; write the keys out"},
}

func TestParseValidFixtures(t *testing.T) {
	for _, tt := range validFixtures {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join("testdata", tt.file)
			cfg, err := Parse(file, readFixture(t, file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(*cfg, tt.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", *cfg, tt.want)
			}
		})
	}
}

func TestParseInvalidFixtures(t *testing.T) {
	for _, tt := range invalidFixtures {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join("testdata", tt.file)
			cfg, err := Parse(file, readFixture(t, file))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error %q", *cfg, tt.want)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %v (%T) is not a *Error", err, err)
			}
			if want := file + ":" + tt.want; err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
			if perr.File != file || perr.Line < 1 || perr.Column < 1 {
				t.Errorf("error position = %q %d:%d", perr.File, perr.Line, perr.Column)
			}
		})
	}
}

// TestEveryFixtureHasAnExpectation keeps the tables and testdata in step: a
// fixture without an expectation would only be fuzz seed, never checked.
func TestEveryFixtureHasAnExpectation(t *testing.T) {
	listed := map[string]bool{}
	for _, tt := range validFixtures {
		listed[tt.file] = true
	}
	for _, tt := range invalidFixtures {
		if listed[tt.file] {
			t.Errorf("fixture %s is listed twice", tt.file)
		}
		listed[tt.file] = true
	}
	files, err := filepath.Glob("testdata/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("fixture %s has no expectation in the tables", f)
		}
		delete(listed, filepath.Base(f))
	}
	for f := range listed {
		t.Errorf("table names %s, which is not in testdata", f)
	}
}

func TestParseInline(t *testing.T) {
	const steps = "build:\n  - run: make\n"
	const app = steps + "artifact:\n  paths: [bin]\napp:\n  run: bin/app\n"
	tests := []struct {
		name string
		in   string
		want string // error after "x.yml:", or "" for success
	}{
		{"app instances within bounds are accepted", app + "  instances: 3\n", ""},
		{"app instances of zero are refused", app + "  instances: 0\n", "7:14: app instances must be a whole number from 1 to 16, got 0"},
		{"app instances over the cap are refused", app + "  instances: 17\n", "7:14: app instances must be a whole number from 1 to 16, got 17"},
		{"app instances must be a number", app + "  instances: three\n", `7:14: app instances must be a whole number from 1 to 16, got the string "three"`},
		{"app balance round-robin is accepted", app + "  balance: round-robin\n", ""},
		{"app balance must be a known strategy", app + "  balance: random\n", `7:12: app balance must be "least-outstanding" or "round-robin", got "random"`},
		{"app balance must be a string", app + "  balance: [a]\n", "7:12: app balance must be a string, got a list"},
		{"app rollout_batch of zero is refused", app + "  rollout_batch: 0\n", "7:18: app rollout_batch must be a whole number from 1 to 16, got 0"},
		{"app rollout_batch over the cap is refused", app + "  rollout_batch: 20\n", "7:18: app rollout_batch must be a whole number from 1 to 16, got 20"},
		{"a file over the size limit is refused before parsing",
			steps + "# " + strings.Repeat("x", MaxFileSize) + "\n",
			"1:1: the file is 1048600 bytes; the limit is 1048576 bytes"},
		{"a tab at the very start is reported at line 1",
			"\tbuild: []\n", "1:1: found a tab in the indentation; indent YAML with spaces only"},
		{"a tab after spaces is reported at its own column",
			"build:\n  - run: make\n  \t- run: again\n", "3:3: found a tab in the indentation; indent YAML with spaces only"},
		{"a scanner error on the first line has a position",
			"build: a: b\n", "1:1: invalid YAML: mapping values are not allowed in this context"},
		{"an unknown anchor is invalid YAML",
			"build: *nowhere\n", `1:1: invalid YAML: unknown anchor 'nowhere' referenced`},
		{"a long unknown key is shortened in the message",
			steps + strings.Repeat("k", 100) + ": 1\n",
			`3:1: unknown key "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk..." at the top level; allowed keys: build, artifact, cache, app, timeout`},
		{"a key written in capitals is suggested in lower case",
			"Build:\n  - run: make\n",
			`1:1: unknown key "Build" at the top level (did you mean "build"?); allowed keys: build, artifact, cache, app, timeout`},
		{"a list used as a key is refused",
			"? [a]\n: b\n", "1:3: keys at the top level must be plain names, got a list"},
		{"a step that is a number is a type error",
			"build:\n  - 42\n", "2:5: step 1 must be a mapping with a run key (or a command string), got the number 42"},
		{"a step name over the length limit is refused",
			"build:\n  - name: " + strings.Repeat("a", MaxNameLen+1) + "\n    run: make\n",
			`2:11: step 1: invalid name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...": use at most 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"a step name of exactly the limit is accepted",
			"build:\n  - name: " + strings.Repeat("a", MaxNameLen) + "\n    run: make\n", ""},
		{"a name starting with a dash is refused",
			"build:\n  - name: -x\n    run: make\n",
			`2:11: step 1: invalid name "-x": use at most 64 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"a lower-case slipway_ env name is reserved too",
			"build:\n  - run: make\n    env: {slipway_x: 1}\n",
			`3:11: step 1: env name "slipway_x" is reserved: Slipway sets the SLIPWAY_* variables itself`},
		{"a repeated env name is refused",
			"build:\n  - run: make\n    env:\n      A: 1\n      A: 2\n",
			"5:7: step 1: env A is repeated (first at line 4)"},
		{"a step may set PORT, only the app may not",
			"build:\n  - run: make\n    env: {PORT: 1}\n", ""},
		{"a custom tag on an env value is refused",
			"build:\n  - run: make\n    env: {A: !secret x}\n",
			"3:14: step 1: env A must be a string, number or boolean, got a value tagged !secret"},
		{"a NUL in run is refused",
			"build:\n  - run: \"make\\0\"\n", "2:10: step 1: run contains a NUL character"},
		{"a NUL in an env value is refused",
			"build:\n  - run: make\n    env: {A: \"\\0\"}\n", "3:14: step 1: env A contains a NUL character"},
		{"a negative timeout is refused",
			steps + "timeout: -5m\n", `3:10: timeout must be at least 1s, got "-5m"`},
		{"a timeout that is a list is a type error",
			steps + "timeout: [5m]\n", "3:10: timeout must be a string, got a list"},
		{"exactly the maximum timeout is accepted", steps + "timeout: 24h\n", ""},
		{"a health path with a space is refused",
			steps + "artifact: {paths: [a]}\napp: {run: a, health: /a b}\n",
			`4:23: app health "/a b" must not contain spaces, control characters or "#"`},
		{"a health path with a fragment is refused",
			steps + "artifact: {paths: [a]}\napp: {run: a, health: \"/a#b\"}\n",
			`4:23: app health "/a#b" must not contain spaces, control characters or "#"`},
		{"a health path that is too long is refused",
			steps + "artifact: {paths: [a]}\napp: {run: a, health: /" + strings.Repeat("h", MaxHealthLen) + "}\n",
			"4:23: app health is 1025 characters long; the limit is 1024"},
		{"a health path with a broken escape is refused",
			steps + "artifact: {paths: [a]}\napp: {run: a, health: /a%zz}\n",
			`4:23: app health "/a%zz" is not a valid URL path`},
		{"a health path with a query is accepted",
			steps + "artifact: {paths: [a]}\napp: {run: a, health: \"/up?deep=1\"}\n", ""},
		{"app as a string is a type error",
			steps + "artifact: {paths: [a]}\napp: ./a\n", `4:6: app must be a mapping with a run command, got the string "./a"`},
		{"an artifact path that is the workspace is refused",
			steps + "artifact: {paths: [./]}\n", `3:20: artifact path "./" names the whole workspace; list the files or directories to keep`},
		{"an artifact path with a double slash is refused",
			steps + "artifact: {paths: [bin//app]}\n", `3:20: artifact path "bin//app" is not clean; write "bin/app"`},
		{"an artifact path with a newline is refused",
			steps + "artifact: {paths: [\"a\\nb\"]}\n", `3:20: artifact path "a\nb" contains a control character`},
		{"an artifact path that is a number is a type error",
			steps + "artifact: {paths: [1]}\n", "3:20: artifact path must be a string, got the number 1"},
		{"sibling paths sharing a prefix do not overlap",
			steps + "artifact: {paths: [bin, bin-extra, bin.d/x]}\n", ""},
		{"a second document after a valid one is refused even when empty",
			steps + "---\n", `3:1: the file holds more than one YAML document; remove the "---" separator and keep one`},
		{"broken YAML in a second document is reported",
			steps + "---\n[\n", "5:1: invalid YAML: did not find expected node content"},
		{"a step repeated through an alias is refused where the alias is",
			"build:\n  - &s {name: a, run: make}\n  - *s\n",
			`3:5: step name "a" is already used by step 1 (line 2); step names must be unique`},
		{"an alias cycle cannot loop",
			"build: &b\n  - *b\n", "1:8: step 1 must be a mapping with a run key (or a command string), got a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("x.yml", []byte(tt.in))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if len(cfg.Build) == 0 {
					t.Fatalf("Parse returned no steps")
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %v (%T) is not a *Error", err, err)
			}
			if want := "x.yml:" + tt.want; err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
		})
	}
}

func TestParseWithoutFileNameUsesTheDefault(t *testing.T) {
	_, err := Parse("", nil)
	var perr *Error
	if !errors.As(err, &perr) || perr.File != DefaultFile {
		t.Fatalf("Parse(\"\", nil) = %v, want an *Error for %s", err, DefaultFile)
	}
}

func TestHash(t *testing.T) {
	parse := func(t *testing.T, s string) *Config {
		t.Helper()
		cfg, err := Parse("x.yml", []byte(s))
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		return cfg
	}
	base := "build:\n  - name: test\n    run: make test\n    env: {A: 1, B: 2}\nartifact: {paths: [bin]}\napp: {run: bin/app}\n"
	same := []struct{ name, in string }{
		{"comments and blank lines do not change the hash",
			"# comment\n\nbuild:\n  - name: test   # the tests\n    run: make test\n    env: {A: 1, B: 2}\nartifact: {paths: [bin]}\napp: {run: bin/app}\n"},
		{"key and env order do not change the hash",
			"app: {run: bin/app}\nartifact: {paths: [bin/]}\nbuild:\n  - env: {B: 2, A: 1}\n    run: make test\n    name: test\n"},
		{"spelled-out defaults do not change the hash",
			base + "timeout: 30m\n"},
	}
	want := parse(t, base).Hash()
	if len(want) != 64 {
		t.Fatalf("Hash() = %q, want 64 hex digits", want)
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(t, tt.in).Hash(); got != want {
				t.Errorf("Hash() = %s, want %s", got, want)
			}
		})
	}
	different := []struct{ name, in string }{
		{"a different command changes the hash", strings.Replace(base, "make test", "make check", 1)},
		{"a different env value changes the hash", strings.Replace(base, "B: 2", "B: 3", 1)},
		{"a different artifact changes the hash", strings.Replace(base, "[bin]", "[dist]", 1)},
		{"a different timeout changes the hash", base + "timeout: 31m\n"},
		{"a different health path changes the hash", strings.Replace(base, "{run: bin/app}", "{run: bin/app, health: /up}", 1)},
	}
	for _, tt := range different {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(t, tt.in).Hash(); got == want {
				t.Errorf("Hash() did not change")
			}
		})
	}
}

func readFixture(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReservedAppEnvIsOneListForPipelineAndVariables(t *testing.T) {
	for name, reserved := range map[string]bool{
		"PORT": true, "port": false, "HOST": true, "BIND": true, "SLIPWAY_FOO": true, "slipway_release": true,
		"DATABASE_URL": false, "HOSTNAME": false, "PORTS": false,
	} {
		if got := ReservedAppEnv(name) != ""; got != reserved {
			t.Errorf("ReservedAppEnv(%q) reserved = %v, want %v", name, got, reserved)
		}
	}
}

func TestAppInstances(t *testing.T) {
	const base = "build:\n  - run: make\nartifact:\n  paths: [bin]\napp:\n  run: bin/app\n"
	for _, tt := range []struct {
		name string
		in   string
		want int
	}{
		{"not set means the default of one (0)", base, 0},
		{"three", base + "  instances: 3\n", 3},
		{"the maximum", base + "  instances: 16\n", 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("x.yml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if c.App.Instances != tt.want {
				t.Errorf("instances = %d, want %d", c.App.Instances, tt.want)
			}
		})
	}
	c1, _ := Parse("x.yml", []byte(base))
	c2, _ := Parse("x.yml", []byte(base+"  instances: 2\n"))
	if c1.Hash() == c2.Hash() {
		t.Error("the hash ignores app.instances")
	}
	c3, err := Parse("x.yml", []byte(base+"  instances: 4\n  balance: round-robin\n  rollout_batch: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c3.App.Balance != BalanceRoundRobin || c3.App.RolloutBatch != 2 {
		t.Errorf("balance %q, rollout_batch %d, want round-robin and 2", c3.App.Balance, c3.App.RolloutBatch)
	}
	c4, _ := Parse("x.yml", []byte(base+"  instances: 4\n  balance: round-robin\n"))
	c5, _ := Parse("x.yml", []byte(base+"  instances: 4\n  rollout_batch: 2\n"))
	if c3.Hash() == c4.Hash() || c3.Hash() == c5.Hash() {
		t.Error("the hash ignores app.balance or app.rollout_batch")
	}
}
