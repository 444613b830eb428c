package gitrepo

import (
	"os/exec"
	"testing"
	"unicode/utf8"
)

// TestCheckRefFormatAgreesWithGit compares the check with the real git
// check-ref-format on names that break each rule and names that pass.
func TestCheckRefFormatAgreesWithGit(t *testing.T) {
	names := []string{
		"refs/heads/main", "refs/heads/feature/login", "refs/tags/v1.0.0", "refs/heads/ünïcode", "refs/heads/a.b",
		"refs/heads/a@b", "refs/heads/@", "refs/heads/-dash", "refs/heads/x.lockx", "refs/heads/a-.b",
		"refs/heads/a..b", "refs/heads/a\nb", "refs/heads/a\x00b"[:13], "refs/heads/a\x7fb", "refs/heads/a b",
		"refs/heads/a~1", "refs/heads/a^", "refs/heads/a:b", "refs/heads/a?", "refs/heads/a*", "refs/heads/a[b",
		"refs/heads/a\\b", "refs/heads/a@{1}", "@", "refs/heads/x.lock", "refs/heads/.hidden", "refs/heads/a/.b",
		"refs/heads/a.", "refs/heads/", "/refs/heads/a", "refs//heads/a", "main", "refs/heads/a/b.lock/c",
		"refs/heads/a\tb", "", "refs/heads/x/",
	}
	for _, n := range names {
		gitOK := exec.Command("git", "check-ref-format", n).Run() == nil
		err := CheckRefFormat(n)
		if (err == nil) != gitOK {
			t.Errorf("CheckRefFormat(%q) = %v, git check-ref-format says ok=%v", n, err, gitOK)
		}
	}
}

func FuzzCheckRefFormat(f *testing.F) {
	for _, s := range []string{"refs/heads/main", "refs/heads/a..b", "refs/tags/v1@{", "refs/heads/a.lock"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if len(name) > 200 || !utf8.ValidString(name) || len(name) == 0 || name[0] == '-' {
			return
		}
		for i := 0; i < len(name); i++ {
			if name[i] == 0 {
				return // cannot be an argument
			}
		}
		gitOK := exec.Command("git", "check-ref-format", name).Run() == nil
		if (CheckRefFormat(name) == nil) != gitOK {
			t.Fatalf("CheckRefFormat(%q) disagrees with git (git ok=%v)", name, gitOK)
		}
	})
}
