package policy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // freeze windows name IANA zones; do not depend on the host's copy
)

// Window kinds.
const (
	// KindOnce is one stretch of time: from Start to End.
	KindOnce = "once"
	// KindWeekly repeats every week, from one weekday and time to another
	// (possibly across the week's end) in a time zone.
	KindWeekly = "weekly"
)

// Window is a freeze window: while it is active, nothing deploys into the
// environment except by an admin who gives a reason.
type Window struct {
	Kind string `json:"kind"`
	// Start and End bound a KindOnce window (End excluded).
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// From and To bound a KindWeekly window, as "fri 16:00".
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// TZ is the IANA time zone the window's times are in.
	TZ     string `json:"tz,omitempty"`
	Reason string `json:"reason,omitempty"`
}

var days = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// weekMinute parses "fri 16:00" into minutes since Sunday 00:00.
func weekMinute(s string) (int, error) {
	day, clock, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), " ")
	if !ok {
		return 0, fmt.Errorf("%q is not a weekday and time like \"fri 16:00\"", s)
	}
	d := -1
	for i, name := range days {
		if strings.HasPrefix(day, name) && len(day) <= 9 {
			d = i
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is not a weekday (mon, tue, wed, thu, fri, sat, sun)", day)
	}
	m, err := clockMinute(clock)
	if err != nil {
		return 0, err
	}
	return d*24*60 + m, nil
}

func clockMinute(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a time like 16:00", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Validate reports what is wrong with w, in words for the admin who typed it.
func (w Window) Validate() error {
	if _, err := time.LoadLocation(w.tz()); err != nil {
		return fmt.Errorf("unknown time zone %q (use an IANA name like UTC or Europe/Berlin)", w.TZ)
	}
	switch w.Kind {
	case KindOnce:
		if w.Start.IsZero() || w.End.IsZero() {
			return fmt.Errorf("a one-off window needs a start and an end")
		}
		if !w.End.After(w.Start) {
			return fmt.Errorf("the window ends (%s) before it starts (%s)", w.End.Format("2006-01-02 15:04"), w.Start.Format("2006-01-02 15:04"))
		}
	case KindWeekly:
		from, err := weekMinute(w.From)
		if err != nil {
			return err
		}
		to, err := weekMinute(w.To)
		if err != nil {
			return err
		}
		if from == to {
			return fmt.Errorf("a weekly window from %s to %s is empty", w.From, w.To)
		}
	default:
		return fmt.Errorf("unknown window kind %q", w.Kind)
	}
	return nil
}

func (w Window) tz() string {
	if w.TZ == "" {
		return "UTC"
	}
	return w.TZ
}

func (w Window) location() *time.Location {
	loc, err := time.LoadLocation(w.tz())
	if err != nil {
		return time.UTC
	}
	return loc
}

// ActiveAt reports whether the window is active at now and, if so, when
// this occurrence of it ends.
func (w Window) ActiveAt(now time.Time) (bool, time.Time) {
	switch w.Kind {
	case KindOnce:
		if !now.Before(w.Start) && now.Before(w.End) {
			return true, w.End
		}
	case KindWeekly:
		from, err1 := weekMinute(w.From)
		to, err2 := weekMinute(w.To)
		if err1 != nil || err2 != nil || from == to {
			return false, time.Time{}
		}
		local := now.In(w.location())
		m := int(local.Weekday())*24*60 + local.Hour()*60 + local.Minute()
		active := from <= m && m < to
		if from > to { // wraps over the week's end
			active = m >= from || m < to
		}
		if !active {
			return false, time.Time{}
		}
		toDay, toClock := to/(24*60), to%(24*60)
		ahead := (toDay - int(local.Weekday()) + 7) % 7
		if ahead == 0 && toClock <= m%(24*60) {
			ahead = 7
		}
		end := time.Date(local.Year(), local.Month(), local.Day()+ahead, toClock/60, toClock%60, 0, 0, local.Location())
		return true, end
	}
	return false, time.Time{}
}

// String writes the window in the one-line form ParseWindows reads.
func (w Window) String() string {
	var s string
	switch w.Kind {
	case KindOnce:
		loc := w.location()
		s = w.Start.In(loc).Format("2006-01-02 15:04") + " to " + w.End.In(loc).Format("2006-01-02 15:04") + " " + w.tz()
	case KindWeekly:
		s = "weekly " + w.From + " to " + w.To + " " + w.tz()
	default:
		s = w.Kind
	}
	if w.Reason != "" {
		s += ": " + w.Reason
	}
	return s
}

var (
	onceLine   = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})\s+to\s+(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})(?:\s+([^\s:]+))?\s*(?::\s*(.*))?$`)
	weeklyLine = regexp.MustCompile(`(?i)^weekly\s+([a-z]+)\s+(\d{1,2}:\d{2})\s+to\s+([a-z]+)\s+(\d{1,2}:\d{2})(?:\s+([^\s:]+))?\s*(?::\s*(.*))?$`)
)

// maxReason bounds a window's reason.
const maxReason = 200

// ParseWindows reads freeze windows, one per line, in the form an admin
// types them:
//
//	2026-12-24 00:00 to 2026-12-27 08:00 Europe/Berlin: Christmas
//	weekly fri 16:00 to mon 08:00 UTC: no deploys over the weekend
//
// The time zone defaults to UTC; the reason after ":" is optional. Blank
// lines and lines starting with # are skipped. Errors name the line.
func ParseWindows(text string) ([]Window, error) {
	out := []Window{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w, err := parseWindow(line)
		if err != nil {
			return nil, fmt.Errorf("freeze windows, line %d: %w", i+1, err)
		}
		out = append(out, w)
	}
	return out, nil
}

func parseWindow(line string) (Window, error) {
	if m := weeklyLine.FindStringSubmatch(line); m != nil {
		w := Window{Kind: KindWeekly, From: strings.ToLower(m[1]) + " " + pad(m[2]), To: strings.ToLower(m[3]) + " " + pad(m[4]), TZ: m[5], Reason: strings.TrimSpace(m[6])}
		return w, checkWindow(w)
	}
	if m := onceLine.FindStringSubmatch(line); m != nil {
		w := Window{Kind: KindOnce, TZ: m[5], Reason: strings.TrimSpace(m[6])}
		loc, err := time.LoadLocation(w.tz())
		if err != nil {
			return Window{}, fmt.Errorf("unknown time zone %q (use an IANA name like UTC or Europe/Berlin)", w.TZ)
		}
		if w.Start, err = time.ParseInLocation("2006-01-02 15:04", m[1]+" "+pad(m[2]), loc); err != nil {
			return Window{}, fmt.Errorf("start %s %s is not a date and time", m[1], m[2])
		}
		if w.End, err = time.ParseInLocation("2006-01-02 15:04", m[3]+" "+pad(m[4]), loc); err != nil {
			return Window{}, fmt.Errorf("end %s %s is not a date and time", m[3], m[4])
		}
		w.Start, w.End = w.Start.UTC(), w.End.UTC()
		return w, checkWindow(w)
	}
	return Window{}, fmt.Errorf("%q is not a window: write \"2026-12-24 00:00 to 2026-12-27 08:00 UTC: reason\" or \"weekly fri 16:00 to mon 08:00 UTC: reason\"", line)
}

func checkWindow(w Window) error {
	if len(w.Reason) > maxReason {
		return fmt.Errorf("the reason is longer than %d characters", maxReason)
	}
	return w.Validate()
}

func pad(clock string) string {
	if len(clock) == 4 {
		return "0" + clock
	}
	return clock
}

// FormatWindows writes windows back in the form ParseWindows reads.
func FormatWindows(ws []Window) string {
	lines := make([]string, len(ws))
	for i, w := range ws {
		lines[i] = w.String()
	}
	return strings.Join(lines, "\n")
}

// DecodeWindows reads the stored JSON form ("" and "null" are no windows).
func DecodeWindows(raw string) ([]Window, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || raw == "null" {
		return []Window{}, nil
	}
	var ws []Window
	if err := json.Unmarshal([]byte(raw), &ws); err != nil {
		return nil, fmt.Errorf("policy: decode freeze windows: %w", err)
	}
	for i, w := range ws {
		if err := w.Validate(); err != nil {
			return nil, fmt.Errorf("policy: freeze window %d: %w", i+1, err)
		}
	}
	return ws, nil
}

// EncodeWindows writes windows in the stored JSON form.
func EncodeWindows(ws []Window) string {
	if len(ws) == 0 {
		return "[]"
	}
	b, err := json.Marshal(ws)
	if err != nil { // plain strings and times always encode
		return "[]"
	}
	return string(b)
}

// Freeze is an active freeze window at some moment.
type Freeze struct {
	Window Window
	// Until is when this occurrence ends.
	Until time.Time
}

// Describe words the freeze for a message: "frozen until 2026-12-27 08:00 CET (Christmas)".
func (f Freeze) Describe() string {
	s := "frozen until " + f.Until.In(f.Window.location()).Format("2006-01-02 15:04 MST")
	if f.Window.Reason != "" {
		s += " (" + f.Window.Reason + ")"
	}
	return s
}

// ActiveFreeze returns the active window that ends last, if any is active
// at now.
func ActiveFreeze(ws []Window, now time.Time) (Freeze, bool) {
	var best Freeze
	found := false
	for _, w := range ws {
		if ok, until := w.ActiveAt(now); ok && (!found || until.After(best.Until)) {
			best, found = Freeze{Window: w, Until: until}, true
		}
	}
	return best, found
}

// itoa is strconv.Itoa, kept short for messages.
func itoa(n int) string { return strconv.Itoa(n) }
