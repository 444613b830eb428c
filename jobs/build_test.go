package jobs

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/models"
)

const appPipeline = `build:
  - name: test
    run: |
      echo "testing $SLIPWAY_PROJECT at $SLIPWAY_COMMIT_SHA"
      echo "to stderr" >&2
  - name: compile
    run: mkdir -p bin && cp src/app.sh bin/app && chmod +x bin/app
artifact:
  paths: [bin/app, static/]
app:
  run: ./bin/app
  health: /healthz
`

var appFiles = map[string]string{
	"src/app.sh":         "#!/bin/sh\necho app\n",
	"static/index.html":  "<h1>hi</h1>\n",
	"static/css/app.css": "body{}\n",
}

func TestBuildRunsThePipelineAndKeepsADeterministicArtifact(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run("on "+db, func(t *testing.T) {
			e := newBuildEnv(t, db, 2)
			p, repo, sha := e.project("app", appPipeline, appFiles)

			first := e.build(p, "main")
			if first.Number != 1 || first.Status != models.BuildQueued || first.CommitSHA != sha || first.RefType != RefBranch {
				t.Fatalf("created build = #%d %s %s %s, want #1 queued %s branch", first.Number, first.Status, first.CommitSHA, first.RefType, sha)
			}
			if first.CommitAuthor != "Ada Lovelace" || first.CommitMessage != "first" {
				t.Fatalf("commit info = %q %q", first.CommitAuthor, first.CommitMessage)
			}
			b := e.wait(first.ID)
			if b.Status != models.BuildSucceeded {
				t.Fatalf("status %s (%s), log:\n%s", b.Status, b.StatusReason, strings.Join(e.log(b.ID), "\n"))
			}
			if got, want := stepNames(b), []string{"checkout", "config", "test", "compile", "artifact"}; !slices.Equal(got, want) {
				t.Fatalf("steps %v, want %v", got, want)
			}
			lines := e.log(b.ID)
			prev := 0
			for _, s := range b.Steps {
				if s.Status != runner.StatusSucceeded {
					t.Errorf("step %s is %s", s.Name, s.Status)
				}
				if s.FirstLine <= prev || s.LastLine < s.FirstLine || s.LastLine > len(lines) {
					t.Errorf("step %s lines %d..%d after %d (log has %d)", s.Name, s.FirstLine, s.LastLine, prev, len(lines))
				}
				prev = s.LastLine
				if s.StartedAt == nil || s.FinishedAt == nil {
					t.Errorf("step %s has no start or end time", s.Name)
				}
			}
			if ec := stepByName(t, b, "test").ExitCode; ec == nil || *ec != 0 {
				t.Errorf("test step exit code %v, want 0", ec)
			}
			test := stepByName(t, b, "test")
			within := strings.Join(lines[test.FirstLine-1:test.LastLine], "\n")
			for _, want := range []string{"testing app at " + sha, "to stderr"} {
				if !strings.Contains(within, want) {
					t.Errorf("the test step's lines lack %q:\n%s", want, within)
				}
			}
			if b.ArtifactSHA256 == nil || b.Artifact == nil || b.Artifact.Size == 0 {
				t.Fatalf("no artifact recorded: %+v", b.Artifact)
			}
			if b.PipelineYAML != appPipeline {
				t.Errorf("pipeline YAML not kept: %q", b.PipelineYAML)
			}
			rc, info, err := e.arts.Open(*b.ArtifactSHA256)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, rc)
			rc.Close()
			if n != info.Size || info.Size != b.Artifact.Size {
				t.Errorf("stored artifact is %d bytes, recorded %d", n, b.Artifact.Size)
			}

			// The same commit built again, by SHA this time, gives the same bytes.
			again := e.wait(e.build(p, sha[:10]).ID)
			if again.Number != 2 || again.RefType != RefCommit || again.Ref != sha {
				t.Errorf("second build #%d ref %s %s", again.Number, again.RefType, again.Ref)
			}
			if again.ArtifactSHA256 == nil || *again.ArtifactSHA256 != *b.ArtifactSHA256 {
				t.Fatalf("rebuild of the same commit gave artifact %v, want %s", again.ArtifactSHA256, *b.ArtifactSHA256)
			}

			// A webhook knows the commit: it is built as given, without a fetch
			// when the mirror has it, under the branch name it came with.
			hooked, err := e.jobs.CreateBuild(context.Background(), e.store, CreateBuildRequest{
				Project: p, Ref: "refs/heads/feature", CommitSHA: sha, Trigger: TriggerWebhook})
			if err != nil || hooked.CommitSHA != sha || hooked.Ref != "feature" || hooked.RefType != RefBranch {
				t.Fatalf("webhook build: %+v %v", hooked, err)
			}
			e.wait(hooked.ID)

			// A change to a packed file changes the digest.
			repo.Write("static/index.html", "<h1>changed</h1>\n")
			repo.Commit("change")
			changed := e.wait(e.build(p, "main").ID)
			if changed.ArtifactSHA256 == nil || *changed.ArtifactSHA256 == *b.ArtifactSHA256 {
				t.Fatalf("a changed file kept the artifact digest %v", changed.ArtifactSHA256)
			}
			if changed.Number != 4 {
				t.Errorf("third build numbered %d", changed.Number)
			}
		})
	}
}

const noisyPipeline = `build:
  - name: noisy
    run: |
      head -c 3000 /dev/urandom
      echo
      printf 'nul\000byte\n'
      head -c 5000000 /dev/zero | tr '\000' a
      echo
      echo done
`

func TestBuildFailuresSayWhatWentWrong(t *testing.T) {
	cases := []struct {
		name      string
		yml       string
		files     map[string]string
		status    string
		step      string // the step that must not have succeeded
		stepState string
		exitCode  int // -1: no exit code
		reason    string
		logLine   string
	}{
		{name: "a commit without .slipway.yml fails in the config step", files: map[string]string{"README": "hi\n"},
			status: models.BuildFailed, step: "config", stepState: runner.StatusFailed, exitCode: -1,
			reason: ".slipway.yml: no such file at the root of the repository", logLine: "no such file at the root"},
		{name: "invalid YAML fails in the config step with file, line and column", yml: "build:\n  - name: a\n    run: [unclosed\n",
			status: models.BuildFailed, step: "config", stepState: runner.StatusFailed, exitCode: -1,
			reason: ".slipway.yml:", logLine: ".slipway.yml:"},
		{name: "an unknown key fails in the config step naming it", yml: "build:\n  - name: a\n    run: true\n    shell: bash\n",
			status: models.BuildFailed, step: "config", stepState: runner.StatusFailed, exitCode: -1,
			reason: `.slipway.yml:4:5: unknown key "shell"`, logLine: `unknown key "shell"`},
		{name: "a missing command fails its step with exit code 127", yml: "build:\n  - name: missing\n    run: no-such-command-xyz\n",
			status: models.BuildFailed, step: "missing", stepState: runner.StatusFailed, exitCode: 127,
			reason: "step missing: command not found (exit 127)", logLine: "command not found"},
		{name: "a step that never ends is stopped by its timeout", yml: "build:\n  - name: forever\n    run: sleep 300\n    timeout: 1s\n",
			status: models.BuildFailed, step: "forever", stepState: runner.StatusTimedOut, exitCode: -1,
			reason: "step forever: timed out after 1s", logLine: "timed out after 1s"},
		{name: "a declared artifact path that does not exist fails the artifact step naming it",
			yml:    "build:\n  - name: nothing\n    run: \"true\"\nartifact:\n  paths: [bin/app]\n",
			status: models.BuildFailed, step: "artifact", stepState: runner.StatusFailed, exitCode: -1,
			reason: `declared artifact path "bin/app" does not exist`, logLine: `"bin/app" does not exist`},
	}
	e := newBuildEnv(t, "sqlite", 2)
	ids := make([]int64, len(cases))
	for i, c := range cases {
		p, _, _ := e.project("case-"+strconv.Itoa(i), c.yml, c.files)
		ids[i] = e.build(p, "main").ID
	}
	noisy, _, _ := e.project("noisy", noisyPipeline, nil)
	noisyID := e.build(noisy, "main").ID
	ctx := context.Background()
	t.Run("an unknown ref is an UnknownRefError naming it and creates nothing", func(t *testing.T) {
		_, err := e.jobs.CreateBuild(ctx, e.store, CreateBuildRequest{Project: noisy, Ref: "no-such-branch", Trigger: TriggerAPI})
		var ue *UnknownRefError
		if !errors.As(err, &ue) || ue.Ref != "no-such-branch" || !strings.Contains(err.Error(), `"no-such-branch"`) {
			t.Fatalf("got %v, want UnknownRefError for no-such-branch", err)
		}
	})
	t.Run("an unreachable repository is a RepoError and creates nothing", func(t *testing.T) {
		gone := buildtest.Project(t, e.store, "gone", filepath.Join(t.TempDir(), "missing"))
		_, err := e.jobs.CreateBuild(ctx, e.store, CreateBuildRequest{Project: gone, Ref: "main", Trigger: TriggerAPI})
		var re *RepoError
		if !errors.As(err, &re) || re.Msg == "" {
			t.Fatalf("got %v, want RepoError", err)
		}
		bs, err := e.store.Builds(ctx, models.BuildFilter{ProjectID: gone.ID})
		if err != nil || len(bs) != 0 {
			t.Fatalf("builds %d, %v", len(bs), err)
		}
	})
	t.Run("a bad trigger is refused", func(t *testing.T) {
		_, err := e.jobs.CreateBuild(ctx, e.store, CreateBuildRequest{Project: noisy, Ref: "main", Trigger: "cron"})
		if !errors.Is(err, ErrInvalidBuildRequest) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("binary output and a 5 MB line end up as clean, bounded lines", func(t *testing.T) {
		b := e.wait(noisyID)
		if b.Status != models.BuildSucceeded {
			t.Fatalf("status %s: %s", b.Status, b.StatusReason)
		}
		lines := e.log(b.ID)
		total := 0
		for i, l := range lines {
			if !utf8.ValidString(l) || strings.ContainsRune(l, 0) {
				t.Fatalf("line %d is not clean UTF-8 without NUL: %q", i+1, l[:min(len(l), 80)])
			}
			if len(l) > runner.DefaultMaxLineBytes {
				t.Fatalf("line %d is %d bytes, over the %d limit", i+1, len(l), runner.DefaultMaxLineBytes)
			}
			total += strings.Count(l, "a")
		}
		if total < 5000000 {
			t.Errorf("only %d of the 5,000,000 'a's were kept", total)
		}
		if !contains(lines, "done") || b.LogTruncated {
			t.Errorf("log lost its end (truncated=%v)", b.LogTruncated)
		}
	})
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := e.wait(ids[i])
			lines := e.log(b.ID)
			if b.Status != c.status || !strings.Contains(b.StatusReason, c.reason) {
				t.Fatalf("build %s %q, want %s with %q; log:\n%s", b.Status, b.StatusReason, c.status, c.reason, strings.Join(lines, "\n"))
			}
			s := stepByName(t, b, c.step)
			if s.Status != c.stepState {
				t.Errorf("step %s is %s, want %s", s.Name, s.Status, c.stepState)
			}
			switch {
			case c.exitCode < 0 && s.ExitCode != nil:
				t.Errorf("step %s has exit code %d, want none", s.Name, *s.ExitCode)
			case c.exitCode >= 0 && (s.ExitCode == nil || *s.ExitCode != c.exitCode):
				t.Errorf("step %s exit code %v, want %d", s.Name, s.ExitCode, c.exitCode)
			}
			if !contains(lines[s.FirstLine-1:s.LastLine], c.logLine) {
				t.Errorf("the %s step's lines lack %q:\n%s", s.Name, c.logLine, strings.Join(lines, "\n"))
			}
			for _, later := range b.Steps[s.Position+1:] {
				if later.Status != runner.StatusSkipped {
					t.Errorf("step %s after the failure is %s, want skipped", later.Name, later.Status)
				}
			}
			if b.ArtifactSHA256 != nil {
				t.Errorf("a failed build recorded artifact %s", *b.ArtifactSHA256)
			}
		})
	}
}

func TestCancelStopsTheRunningStepAndLeavesNoProcess(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run("on "+db, func(t *testing.T) {
			ctx := context.Background()
			e := newBuildEnv(t, db, 1)
			dir := t.TempDir()
			pidFile, marker := filepath.Join(dir, "pid"), filepath.Join(dir, "ran")
			yml := "build:\n  - name: long\n    run: |\n      sleep 300 &\n      echo $! > " + pidFile + "\n      echo started\n      wait\n  - name: after\n    run: echo never\n"
			p, _, _ := e.project("app", yml, nil)
			q, _, _ := e.project("queued", "build:\n  - name: mark\n    run: touch "+marker+"\n", nil)
			b := e.build(p, "main")
			pid, err := strconv.Atoi(waitFile(t, pidFile, 30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			// The only worker is busy, so this one waits in the queue.
			waiting := e.build(q, "main")

			// Cancels come through a client that runs no jobs, as from
			// another portal process.
			other, err := New(ctx, Deps{Store: e.store, Logs: e.logs}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Stop(ctx)
			u := &models.User{Username: "ada", PasswordHash: "x", Role: "developer"}
			if err := e.store.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}

			t.Run("a queued build is canceled at once", func(t *testing.T) {
				if err := other.CancelBuild(ctx, e.store, waiting, u); err != nil {
					t.Fatal(err)
				}
				done := e.wait(waiting.ID)
				if done.Status != models.BuildCanceled || done.StatusReason != "canceled by ada before it started" {
					t.Fatalf("queued build %s %q", done.Status, done.StatusReason)
				}
				if !contains(e.closedLog(waiting.ID), "canceled by ada before it started") {
					t.Errorf("log: %q", e.log(waiting.ID))
				}
			})
			t.Run("a running build stops and leaves no process", func(t *testing.T) {
				asked := time.Now()
				cur, err := e.store.Build(ctx, b.ID)
				if err != nil {
					t.Fatal(err)
				}
				if err := other.CancelBuild(ctx, e.store, cur, u); err != nil {
					t.Fatal(err)
				}
				if !waitGone(pid, 20*time.Second) {
					t.Fatalf("the step's sleep %d still runs after cancel", pid)
				}
				t.Logf("step process gone %s after the cancel request", time.Since(asked).Round(time.Millisecond))
				done := e.wait(b.ID)
				if done.Status != models.BuildCanceled || done.StatusReason != "canceled by ada" {
					t.Fatalf("build %s %q, want canceled by ada", done.Status, done.StatusReason)
				}
				if s := stepByName(t, done, "long"); s.Status != runner.StatusCanceled {
					t.Errorf("long step %s, want canceled", s.Status)
				}
				if s := stepByName(t, done, "after"); s.Status != runner.StatusSkipped {
					t.Errorf("after step %s, want skipped", s.Status)
				}
				if err := other.CancelBuild(ctx, e.store, done, u); !errors.Is(err, ErrBuildFinished) {
					t.Errorf("second cancel: %v, want ErrBuildFinished", err)
				}
				if !contains(e.log(b.ID), "started") {
					t.Error("the log lost the step's output")
				}
			})
			t.Run("the canceled queued build never ran", func(t *testing.T) {
				// The worker is free now; give it a moment to (wrongly) start it.
				time.Sleep(300 * time.Millisecond)
				if _, err := os.Stat(marker); err == nil {
					t.Fatal("the canceled build ran its step")
				}
				if cur, _ := e.store.Build(ctx, waiting.ID); len(cur.Steps) != 0 || cur.StartedAt != nil {
					t.Fatalf("the canceled build was started: %+v", cur)
				}
			})
		})
	}
}

func TestBuildInTheSandbox(t *testing.T) {
	if !runner.SandboxAvailable() {
		buildtestSkip(t)
	}
	e := newBuildEnv(t, "sqlite", 1, func(d *Deps) { d.Sandbox = runner.SandboxRequired })
	p, _, _ := e.project("app", appPipeline+"", appFiles)
	b := e.wait(e.build(p, "main").ID)
	if b.Status != models.BuildSucceeded || b.ArtifactSHA256 == nil {
		t.Fatalf("sandboxed build %s %q; log:\n%s", b.Status, b.StatusReason, strings.Join(e.log(b.ID), "\n"))
	}
}

// TestBuildCachesCannotBePoisonedByABranch: what a build leaves in its
// HOME (where Go's, npm's, pnpm's, Yarn's and pip's caches go) is there
// for the next build of the same ref. Another branch starts from a copy
// of the default branch's cache and writes only its own, so nothing a
// branch build writes reaches a default-branch build; another project
// sees nothing.
func TestBuildCachesCannotBePoisonedByABranch(t *testing.T) {
	e := newBuildEnv(t, "sqlite", 1)
	yml := "build:\n  - name: cache\n    run: |\n      cat \"$GOCACHE/seen\" 2>/dev/null || echo first\n      mkdir -p \"$GOCACHE\" && echo \"$SLIPWAY_PROJECT/$SLIPWAY_REF\" > \"$GOCACHE/seen\"\n"
	a, repoA, _ := e.project("cache-a", yml, nil)
	repoA.Git("branch", "feature")
	b, _, _ := e.project("cache-b", yml, nil)
	for _, tt := range []struct {
		name string
		p    *models.Project
		ref  string
		want string
	}{
		{"the first build of a project starts with an empty cache", a, "main", "first"},
		{"the second build of that branch finds what the first left", a, "main", "cache-a/main"},
		{"the first build of another branch starts from a copy of the default branch's", a, "feature", "cache-a/main"},
		{"the second build of that branch finds its own entries", a, "feature", "cache-a/feature"},
		{"a default-branch build never sees what the branch wrote", a, "main", "cache-a/main"},
		{"another project's first build does not see it", b, "main", "first"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := e.wait(e.build(tt.p, tt.ref).ID)
			if got.Status != models.BuildSucceeded {
				t.Fatalf("build %s %q", got.Status, got.StatusReason)
			}
			if lines := e.log(got.ID); !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, tt.want) }) {
				t.Errorf("the log lacks %q:\n%s", tt.want, strings.Join(lines, "\n"))
			}
		})
	}
}

func TestPrivateDirRefusesWhatOthersCouldWrite(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, dir string
		ok        bool
	}{
		{"a new directory is made private", filepath.Join(base, "new"), true},
		{"an existing private directory is used", filepath.Join(base, "new"), true},
		{"a directory others may write is refused", open, false},
		{"a symlink is refused", filepath.Join(base, "link"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := privateDir(tt.dir); (err == nil) != tt.ok {
				t.Fatalf("privateDir(%s) = %v, want ok=%v", tt.dir, err, tt.ok)
			}
		})
	}
}
