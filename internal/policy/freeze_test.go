package policy

import (
	"strings"
	"testing"
	"time"
)

func TestParseWindows(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		want  string // FormatWindows of the result
		error string
	}{
		{name: "a one-off window in UTC", text: "2026-12-24 00:00 to 2026-12-27 08:00 UTC: Christmas", want: "2026-12-24 00:00 to 2026-12-27 08:00 UTC: Christmas"},
		{name: "the time zone defaults to UTC", text: "2026-12-24 00:00 to 2026-12-27 08:00", want: "2026-12-24 00:00 to 2026-12-27 08:00 UTC"},
		{name: "a one-off window keeps its zone", text: "2026-07-01 9:00 to 2026-07-01 17:00 Europe/Berlin: audit day", want: "2026-07-01 09:00 to 2026-07-01 17:00 Europe/Berlin: audit day"},
		{name: "a weekly window", text: "weekly FRI 16:00 to mon 08:00 Europe/Berlin: weekend", want: "weekly fri 16:00 to mon 08:00 Europe/Berlin: weekend"},
		{name: "blank lines and comments are skipped", text: "\n# holidays\n\nweekly sat 00:00 to sun 23:59\n", want: "weekly sat 00:00 to sun 23:59 UTC"},
		{name: "an unknown zone names the line", text: "\n2026-12-24 00:00 to 2026-12-27 08:00 Mars/Olympus", error: "line 2: unknown time zone"},
		{name: "an inverted window is refused", text: "2026-12-27 00:00 to 2026-12-24 08:00", error: "ends"},
		{name: "an empty weekly window is refused", text: "weekly fri 16:00 to fri 16:00", error: "empty"},
		{name: "a bad weekday is refused", text: "weekly fry 16:00 to mon 08:00", error: "weekday"},
		{name: "gibberish shows the expected form", text: "always", error: "is not a window"},
		{name: "a bad time is refused", text: "weekly fri 25:00 to mon 08:00", error: "not a time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := ParseWindows(tt.text)
			if tt.error != "" {
				if err == nil || !strings.Contains(err.Error(), tt.error) {
					t.Fatalf("ParseWindows error = %v, want it to contain %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := FormatWindows(ws); got != tt.want {
				t.Fatalf("FormatWindows = %q, want %q", got, tt.want)
			}
			back, err := DecodeWindows(EncodeWindows(ws))
			if err != nil || FormatWindows(back) != tt.want {
				t.Fatalf("JSON round trip = %q, %v", FormatWindows(back), err)
			}
		})
	}
}

func TestWindowActiveAt(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	weekend := Window{Kind: KindWeekly, From: "fri 16:00", To: "mon 08:00", TZ: "Europe/Berlin"}
	night := Window{Kind: KindWeekly, From: "wed 22:00", To: "thu 06:00", TZ: "UTC"}
	once := Window{Kind: KindOnce, Start: time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)}
	tests := []struct {
		name   string
		w      Window
		at     time.Time
		active bool
		until  time.Time
	}{
		{"a weekend freeze is active on Saturday", weekend, time.Date(2026, 3, 7, 12, 0, 0, 0, berlin), true, time.Date(2026, 3, 9, 8, 0, 0, 0, berlin)},
		{"a weekend freeze starts at Friday 16:00 sharp", weekend, time.Date(2026, 3, 6, 16, 0, 0, 0, berlin), true, time.Date(2026, 3, 9, 8, 0, 0, 0, berlin)},
		{"a weekend freeze is not active Friday at 15:59", weekend, time.Date(2026, 3, 6, 15, 59, 0, 0, berlin), false, time.Time{}},
		{"a weekend freeze ends Monday at 08:00", weekend, time.Date(2026, 3, 9, 8, 0, 0, 0, berlin), false, time.Time{}},
		{"a weekend freeze is active Monday at 07:59", weekend, time.Date(2026, 3, 9, 7, 59, 0, 0, berlin), true, time.Date(2026, 3, 9, 8, 0, 0, 0, berlin)},
		{"a weekend freeze reads times in its own zone", weekend, time.Date(2026, 3, 6, 15, 30, 0, 0, time.UTC), true, time.Date(2026, 3, 9, 8, 0, 0, 0, berlin)},
		{"a night freeze crosses midnight", night, time.Date(2026, 3, 4, 23, 0, 0, 0, time.UTC), true, time.Date(2026, 3, 5, 6, 0, 0, 0, time.UTC)},
		{"a night freeze after midnight ends the same morning", night, time.Date(2026, 3, 5, 1, 0, 0, 0, time.UTC), true, time.Date(2026, 3, 5, 6, 0, 0, 0, time.UTC)},
		{"a night freeze is not active at noon", night, time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC), false, time.Time{}},
		{"a one-off window is active inside", once, time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC), true, once.End},
		{"a one-off window excludes its end", once, once.End, false, time.Time{}},
		{"a one-off window includes its start", once, once.Start, true, once.End},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			active, until := tt.w.ActiveAt(tt.at)
			if active != tt.active || !until.Equal(tt.until) {
				t.Fatalf("ActiveAt(%s) = %v, %s; want %v, %s", tt.at, active, until, tt.active, tt.until)
			}
		})
	}
}

func TestActiveFreezePicksTheLongest(t *testing.T) {
	now := time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)
	ws := []Window{
		{Kind: KindOnce, Start: now.Add(-time.Hour), End: now.Add(time.Hour), Reason: "short"},
		{Kind: KindOnce, Start: now.Add(-time.Hour), End: now.Add(48 * time.Hour), Reason: "long"},
		{Kind: KindOnce, Start: now.Add(time.Hour), End: now.Add(96 * time.Hour), Reason: "later"},
	}
	f, ok := ActiveFreeze(ws, now)
	if !ok || f.Window.Reason != "long" {
		t.Fatalf("ActiveFreeze = %+v %v, want the long window", f, ok)
	}
	if !strings.Contains(f.Describe(), "until 2026-12-27 00:00 UTC (long)") {
		t.Fatalf("Describe = %q", f.Describe())
	}
}

func FuzzParseWindows(f *testing.F) {
	f.Add("2026-12-24 00:00 to 2026-12-27 08:00 UTC: Christmas")
	f.Add("weekly fri 16:00 to mon 08:00 Europe/Berlin: weekend")
	f.Fuzz(func(t *testing.T, text string) {
		ws, err := ParseWindows(text)
		if err != nil {
			return
		}
		again, err := ParseWindows(FormatWindows(ws))
		if err != nil {
			t.Fatalf("formatted windows do not parse again: %v", err)
		}
		if FormatWindows(again) != FormatWindows(ws) {
			t.Fatalf("format is not stable: %q vs %q", FormatWindows(again), FormatWindows(ws))
		}
	})
}
