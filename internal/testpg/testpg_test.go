package testpg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestNewDatabaseAnswersQueries(t *testing.T) {
	url := NewDatabase(t)
	bin, _ := BinDir()
	out, err := exec.Command(filepath.Join(bin, "psql"), url, "-tAc", "select 40+2").CombinedOutput()
	if err != nil {
		if _, lerr := exec.LookPath("psql"); lerr != nil {
			out, err = exec.Command("psql", url, "-tAc", "select 40+2").CombinedOutput()
		}
	}
	if err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	if strings.TrimSpace(string(out)) != "42" {
		t.Fatalf("got %q, want 42", out)
	}
}
