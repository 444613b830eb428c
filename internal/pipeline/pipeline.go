// Package pipeline owns the format of .slipway.yml, the file at the root of a
// repository that says how Slipway builds it (steps), what the build keeps
// (the artifact paths) and how an environment runs the result (the app).
//
// The package is pure: Parse turns bytes into a validated Config or into an
// *Error that names the file, line and column of the first problem. It reads
// no files, runs nothing and knows nothing of the rest of the portal.
// The format is documented for users in docs/pipeline.md.
package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// DefaultFile is the name of the pipeline file at the repository root, and the
// file name Parse uses in errors when it is given an empty one.
const DefaultFile = ".slipway.yml"

// Defaults and limits of the format. Every limit is checked by Parse, so a
// Config it returns never needs clamping by its users.
const (
	// DefaultBuildTimeout bounds a whole build when the file sets no timeout.
	DefaultBuildTimeout = 30 * time.Minute
	// DefaultStepTimeout bounds one step when the step sets no timeout.
	DefaultStepTimeout = 10 * time.Minute
	// DefaultHealthPath is the path checked when app.health is not set.
	DefaultHealthPath = "/healthz"
	// DefaultHealthTimeout is how long a new release may take to become healthy.
	DefaultHealthTimeout = 60 * time.Second

	// MinTimeout is the smallest timeout accepted anywhere.
	MinTimeout = time.Second
	// MaxTimeout is the largest build or step timeout accepted.
	MaxTimeout = 24 * time.Hour
	// MaxHealthTimeout is the largest app.health_timeout accepted.
	MaxHealthTimeout = 10 * time.Minute
	// MaxInstances is the largest app.instances accepted.
	MaxInstances = 16

	// MaxFileSize is the largest pipeline file Parse accepts, in bytes.
	MaxFileSize = 1 << 20
	// MaxNameLen is the longest step name accepted.
	MaxNameLen = 64
	// MaxHealthLen is the longest app.health path accepted.
	MaxHealthLen = 1024
)

// Config is a parsed and validated .slipway.yml, with every default filled in.
type Config struct {
	// Build is the ordered list of steps; it is never empty.
	Build []Step
	// Artifact lists what the build keeps; Paths is empty when the file has
	// no artifact section.
	Artifact Artifact
	// Cache lists workspace paths kept from one build of a ref to the next;
	// Cache.Paths is empty when the file has no cache section.
	Cache Cache
	// App says how an environment runs the artifact; App.Run is empty when
	// the file has no app section.
	App App
	// Timeout bounds the whole build (DefaultBuildTimeout if not set). It
	// wins over step timeouts: a step never runs past it.
	Timeout time.Duration
}

// Step is one command of the build, run by /bin/sh in the workspace.
type Step struct {
	// Name is unique within the build; unnamed steps are called "step-N",
	// N being the 1-based position of the step in the list.
	Name string
	// Run is the shell script of the step, as written (it may span lines).
	Run string
	// Env holds the step's own variables; it is nil when none are declared.
	Env map[string]string
	// Timeout bounds the step (DefaultStepTimeout if not set).
	Timeout time.Duration
	// Line is the line of the step in the file, for links from the UI.
	Line int
}

// Artifact is the part of the workspace kept after a successful build.
type Artifact struct {
	// Paths are files or directories relative to the workspace root, clean,
	// without a trailing slash, never overlapping one another.
	Paths []string
}

// Cache is the part of the workspace restored before the first step and
// saved after a successful build, in the build's per-ref cache.
type Cache struct {
	// Paths are files or directories relative to the workspace root, clean,
	// without a trailing slash, never overlapping one another, never the
	// pipeline file or .git.
	Paths []string
	// KeyFiles are workspace files whose contents key the cache: a change
	// to any of them starts from an empty cache. Nil when none are listed.
	KeyFiles []string
}

// App describes how the process deploy target runs the artifact.
type App struct {
	// Run is the shell command that starts the app in the unpacked artifact;
	// the app must listen on the port given in $PORT.
	Run string
	// Health is the HTTP path that must answer 2xx before the release takes
	// traffic (DefaultHealthPath if not set). It always starts with "/".
	Health string
	// Env holds the app's own variables; it is nil when none are declared.
	Env map[string]string
	// HealthTimeout is how long a new release may take to become healthy
	// (DefaultHealthTimeout if not set).
	HealthTimeout time.Duration
	// Instances is how many instances an environment runs by default, 1
	// to MaxInstances; 0 when not set (one). An environment's own setting
	// wins.
	Instances int
	// Balance is how the edge spreads requests over the instances:
	// BalanceLeastOutstanding (the default when "") or BalanceRoundRobin.
	Balance string
	// RolloutBatch is how many new instances a rolling deploy starts at a
	// time, 1 to MaxInstances; 0 when not set (a quarter of the
	// instances, at least one).
	RolloutBatch int
}

// Balancing strategies of app.balance.
const (
	BalanceLeastOutstanding = "least-outstanding"
	BalanceRoundRobin       = "round-robin"
)

// Hash returns a hex SHA-256 digest of everything that changes what the
// pipeline does: two files that differ only in comments, layout, key order or
// spelled-out defaults hash the same. Step line numbers are left out for the
// same reason.
func (c *Config) Hash() string {
	type step struct {
		Name    string            `json:"name"`
		Run     string            `json:"run"`
		Env     map[string]string `json:"env"`
		Timeout time.Duration     `json:"timeout"`
	}
	type canonical struct {
		Build         []step            `json:"build"`
		Paths         []string          `json:"paths"`
		Run           string            `json:"run"`
		Health        string            `json:"health"`
		Env           map[string]string `json:"env"`
		HealthTimeout time.Duration     `json:"health_timeout"`
		Instances     int               `json:"instances,omitempty"`
		Balance       string            `json:"balance,omitempty"`
		RolloutBatch  int               `json:"rollout_batch,omitempty"`
		Timeout       time.Duration     `json:"timeout"`
		CachePaths    []string          `json:"cache_paths,omitempty"`
		CacheKeys     []string          `json:"cache_key_files,omitempty"`
	}
	v := canonical{
		CachePaths:    c.Cache.Paths,
		CacheKeys:     c.Cache.KeyFiles,
		Paths:         c.Artifact.Paths,
		Run:           c.App.Run,
		Health:        c.App.Health,
		Env:           c.App.Env,
		HealthTimeout: c.App.HealthTimeout,
		Instances:     c.App.Instances,
		Balance:       c.App.Balance,
		RolloutBatch:  c.App.RolloutBatch,
		Timeout:       c.Timeout,
	}
	for _, s := range c.Build {
		v.Build = append(v.Build, step{Name: s.Name, Run: s.Run, Env: s.Env, Timeout: s.Timeout})
	}
	// json.Marshal sorts map keys, so the encoding is canonical; it cannot
	// fail on these plain types.
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Parse parses and validates the pipeline file named file (used only in
// error messages) with the given contents. Any problem — empty file, invalid
// YAML, several documents, tabs, unknown keys, wrong types, bad values — is
// returned as an *Error positioned at its line and column.
func Parse(file string, data []byte) (*Config, error) {
	if file == "" {
		file = DefaultFile
	}
	p := &parser{file: file, data: data}
	cfg, err := p.parse()
	if err != nil {
		// err is a *Error; returning it only when non-nil keeps a nil
		// *Error from becoming a non-nil error interface.
		return nil, err
	}
	return cfg, nil
}
