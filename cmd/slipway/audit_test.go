package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"os"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" database/sql driver

	"github.com/slipway-ci/slipway/models"
)

// runCLI runs the program in-package and returns stdout and the error.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

// copyDataDir copies the SQLite database of src into a fresh directory, as
// an operator would before poking at it.
func copyDataDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	b, err := os.ReadFile(models.SQLitePath(src))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(models.SQLitePath(src) + "-wal"); err == nil {
		t.Fatal("the WAL was not checkpointed: the copy would miss rows")
	}
	if err := os.WriteFile(models.SQLitePath(dst), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// tamper runs statements on a database file with database/sql directly,
// after dropping the append-only triggers as anyone holding the file can.
func tamper(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", models.SQLiteDSN(models.SQLitePath(dir)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range append([]string{"DROP TRIGGER audit_events_no_update", "DROP TRIGGER audit_events_no_delete"}, stmts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	t.Setenv("SLIPWAY_BCRYPT_COST", "4")
	dir := t.TempDir()
	steps := [][]string{
		{"user", "add", "ada", "--role", "lead", "--data", dir},
		{"user", "add", "bob", "--role", "qa", "--data", dir},
		{"token", "create", "--user", "ada", "--name", "deploy-bot", "--data", dir},
		{"user", "add", "cy", "--role", "viewer", "--data", dir},
	}
	var token string
	for _, args := range steps {
		out, err := runCLI(t, "", args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if args[0] == "token" {
			token = strings.TrimSpace(out)
		}
	}

	out, err := runCLI(t, "", "audit", "verify", "--data", dir)
	if err != nil || !strings.HasPrefix(out, "audit trail intact: 4 events\n") {
		t.Fatalf("verify of an untouched trail: %v\n%s", err, out)
	}

	t.Run("the command line records its changes with the actor cli and no secrets", func(t *testing.T) {
		csvOut, err := runCLI(t, "", "audit", "export", "--format", "csv", "--data", dir)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
		if err != nil || len(rows) != 5 {
			t.Fatalf("export: %v, %d rows", err, len(rows))
		}
		want := []string{"user.create", "token.create", "user.create", "user.create"} // newest first
		for i, r := range rows[1:] {
			if r[3] != "cli" || r[4] != want[i] {
				t.Errorf("row %d: actor %q action %q, want cli %q", i+1, r[3], r[4], want[i])
			}
		}
		if strings.Contains(csvOut, token) || strings.Contains(csvOut, token[:10]) || strings.Contains(csvOut, "$2") {
			t.Fatal("the export carries a token or a password hash")
		}
	})

	cases := []struct {
		name  string
		stmts []string
		want  string
	}{
		{"an edited row is reported at its seq", []string{`UPDATE audit_events SET details = '{"role":"admin"}' WHERE seq = 2`},
			"audit trail broken at seq 2: hash mismatch"},
		{"an edited actor is reported at its seq", []string{`UPDATE audit_events SET actor_name = 'mallory' WHERE seq = 3`},
			"audit trail broken at seq 3: hash mismatch"},
		{"a deleted row is reported at its seq", []string{`DELETE FROM audit_events WHERE seq = 3`},
			"audit trail broken at seq 3: row missing: seq 2 is followed by seq 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := copyDataDir(t, dir)
			tamper(t, cp, c.stmts...)
			out, err := runCLI(t, "", "audit", "verify", "--data", cp)
			if !errors.Is(err, errAuditBroken) || exitCode(err) != 1 {
				t.Fatalf("verify of a tampered copy: err %v (exit %d), want exit 1\n%s", err, exitCode(err), out)
			}
			if !strings.HasPrefix(out, c.want) {
				t.Fatalf("got %q, want it to start with %q", out, c.want)
			}
		})
	}

	if out, err := runCLI(t, "", "audit", "verify", "--data", dir); err != nil || !strings.HasPrefix(out, "audit trail intact: 4 events") {
		t.Fatalf("the original must be untouched by tests on its copies: %v %s", err, out)
	}
	if _, err := runCLI(t, "", "audit", "frobnicate"); exitCode(err) != 2 {
		t.Fatalf("an unknown audit subcommand must be a usage error, got %v", err)
	}
}
