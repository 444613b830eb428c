package jobs

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/buildtest"
	"github.com/slipway-ci/slipway/internal/runner"
	"github.com/slipway-ci/slipway/internal/testpg"
	"github.com/slipway-ci/slipway/models"
)

// rebuildTwice builds one commit twice, each time in a fresh workspace
// (at another host path), and returns both builds.
func rebuildTwice(t *testing.T, e *buildEnv, yml string, files map[string]string) (*models.Build, *models.Build) {
	t.Helper()
	p, _, sha := e.project("repro", yml, files)
	var out [2]*models.Build
	for i := range out {
		// A cold Go or npm cache on a busy machine takes longer than
		// the usual wait.
		b := buildtest.WaitBuild(t, e.store, e.build(p, sha).ID, 5*time.Minute)
		log := strings.Join(e.log(b.ID), "\n")
		if b.Status != models.BuildSucceeded || b.ArtifactSHA256 == nil {
			if i == 0 && strings.Contains(log, "npm") && (strings.Contains(log, "EAI_AGAIN") || strings.Contains(log, "ENOTFOUND") || strings.Contains(log, "ECONNREFUSED")) {
				testpg.SkipOrFail(t, "the package registry is unreachable from here:\n%s", log)
			}
			t.Fatalf("build %d: %s %q\n%s", i+1, b.Status, b.StatusReason, log)
		}
		out[i] = b
	}
	return out[0], out[1]
}

func sandboxedBuildEnv(t *testing.T) *buildEnv {
	t.Helper()
	if !runner.SandboxAvailable() {
		buildtestSkip(t)
	}
	return newBuildEnv(t, "sqlite", 1, func(d *Deps) { d.Sandbox = runner.SandboxRequired })
}

// TestGoBuildsOfACommitAreReproducible: a Go program built without
// -trimpath embeds its source paths; in the sandbox they are /workspace
// whichever host directory the workspace was exported to.
func TestGoBuildsOfACommitAreReproducible(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		testpg.SkipOrFail(t, "no Go toolchain here")
	}
	e := sandboxedBuildEnv(t)
	yml := "build:\n  - name: compile\n    run: go build -o bin/app .\nartifact:\n  paths: [bin/app]\n"
	first, second := rebuildTwice(t, e, yml, map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() { println(\"hello\") }\n",
	})
	if *first.ArtifactSHA256 != *second.ArtifactSHA256 {
		t.Fatalf("two builds of one commit: sha256 %s and %s", *first.ArtifactSHA256, *second.ArtifactSHA256)
	}
}

// TestNodeBuildsOfACommitAreReproducible: a bundle made with esbuild that
// stamps its build time the usual way (SOURCE_DATE_EPOCH when set, else
// the clock) is the same for two builds of one commit.
func TestNodeBuildsOfACommitAreReproducible(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		testpg.SkipOrFail(t, "no npm here")
	}
	e := sandboxedBuildEnv(t)
	yml := `build:
  - name: install
    run: npm install --no-audit --no-fund
  - name: bundle
    run: node build.mjs
artifact:
  paths: [dist/]
`
	first, second := rebuildTwice(t, e, yml, map[string]string{
		"package.json": `{"name":"web","version":"1.0.0","private":true,"type":"module","devDependencies":{"esbuild":"0.24.0"}}` + "\n",
		"build.mjs": `import { build } from "esbuild";
const epoch = process.env.SOURCE_DATE_EPOCH;
const builtAt = epoch ? new Date(Number(epoch) * 1000) : new Date();
await build({
  entryPoints: ["src/index.js"], bundle: true, minify: true, sourcemap: true,
  outfile: "dist/app.js",
  define: { __BUILT_AT__: JSON.stringify(builtAt.toISOString()) },
});
`,
		"src/index.js": "import { greet } from \"./greet.js\";\nconsole.log(greet(\"world\"), __BUILT_AT__);\n",
		"src/greet.js": "export const greet = (name) => `hello ${name}`;\n",
	})
	if *first.ArtifactSHA256 != *second.ArtifactSHA256 {
		t.Fatalf("two builds of one commit: sha256 %s and %s", *first.ArtifactSHA256, *second.ArtifactSHA256)
	}
}
