package deploy

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRing(t *testing.T) {
	tests := []struct {
		name string
		add  []string
		want []string
	}{
		{"an empty ring has no lines", nil, []string{}},
		{"a ring not yet full keeps every line", []string{"a", "b"}, []string{"a", "b"}},
		{"a full ring keeps the newest lines, oldest first", []string{"a", "b", "c", "d", "e"}, []string{"c", "d", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(3)
			for _, s := range tt.add {
				r.add(s)
			}
			if got := r.snapshot(); !slices.Equal(got, tt.want) {
				t.Errorf("snapshot = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadLines(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"lines are split on newlines and CRLF", "a\r\nb\nc", []string{"a", "b", "c"}},
		{"empty lines are kept", "a\n\nb\n", []string{"a", "", "b"}},
		{"a too long line is cut once and the next line is intact", long + "\nnext\n",
			[]string{strings.Repeat("x", maxLine) + " …[line truncated]", "next"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			readLines(strings.NewReader(tt.in), func(s string) { got = append(got, s) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	o := Options{RestartBackoffMin: time.Second, RestartBackoffMax: 30 * time.Second}.withDefaults()
	var got []time.Duration
	for n := range 7 {
		got = append(got, o.backoff(n))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		want[i] *= time.Second
	}
	if !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
}
