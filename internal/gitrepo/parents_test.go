package gitrepo

import (
	"reflect"
	"strings"
	"testing"
)

func TestParentsReadsTheGraphBetweenCommits(t *testing.T) {
	u := newUpstream(t)
	a := u.commit("a")
	b := u.commit("b")
	u.git("checkout", "--quiet", "-b", "side", a)
	s := u.commit("side")
	u.git("checkout", "--quiet", "main")
	u.git("merge", "--quiet", "--no-ff", "-m", "merge", "side")
	m := u.git("rev-parse", "HEAD")
	dir := u.mirror()

	got, err := Parents(t.Context(), dir, []string{m, strings.Repeat("f", 40)}, a, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{m: {b, s}, b: {a}, s: {a}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("graph %v, want %v (a missing head ignored, a excluded)", got, want)
	}
	for _, bad := range []string{"-n1", "HEAD", a[:12], a + ":x"} {
		if _, err := Parents(t.Context(), dir, []string{bad}, "", 10); err == nil {
			t.Errorf("head %q was accepted", bad)
		}
		if _, err := Parents(t.Context(), dir, []string{m}, bad, 10); err == nil {
			t.Errorf("exclude %q was accepted", bad)
		}
	}
}
