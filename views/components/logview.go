package components

import (
	"fmt"
	"strconv"
	"time"
)

// LogView is the log viewer's view model: one page of a log stream,
// server-rendered so it reads without JavaScript, plus what logview.js
// needs to follow the stream live and page through it.
type LogView struct {
	// Label names the log for screen readers ("Build #12 log").
	Label string
	// ScriptURL is the hashed URL of logview.js.
	ScriptURL string
	// SocketURL, LinesURL and SearchURL are the viewer's endpoints;
	// RawURL downloads the whole log; PageURL is the page the viewer is
	// on, where its no-JS "earlier", "later" and search links go.
	SocketURL, LinesURL, SearchURL, RawURL, PageURL string

	// Sections hold the rendered lines First..Last grouped by step.
	Sections    []LogSection
	First, Last int
	// Total is the number of lines stored so far.
	Total int
	// Live is true while the stream may still grow.
	Live      bool
	Status    string
	Truncated bool
	Steps     []LogStep
	// StepsJSON is Steps for the script (a data attribute).
	StepsJSON string
	// Fit sizes the box to its lines (up to 60% of the window) instead of
	// a fixed 70%: for short logs such as a deploy's.
	Fit bool
	// ReloadOnEnd reloads the page when a live log ends, so the rest of
	// the page shows the owner's outcome (a deploy's status and error).
	ReloadOnEnd bool

	// Query and Matches are a no-JS search's query and its results.
	Query      string
	Matches    []int
	MoreAfter  int // > 0: more matches after this line
	SearchDone bool
}

// LogSection is a run of lines: a step's, or lines outside any step.
type LogSection struct {
	Step  *LogStep
	Lines []LogLine
}

// LogLine is one rendered line. HTML was produced by internal/termhtml,
// which escapes everything the build printed.
type LogLine struct {
	N    int
	HTML string
}

// LogStep is a step of the log's owner as the viewer shows it.
type LogStep struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// First and Last are the step's line numbers; Last is not final while
	// the step runs, and below First when it printed nothing.
	First      int   `json:"first"`
	Last       int   `json:"last"`
	DurationMS int64 `json:"duration_ms"`
	// StartedMS is the start as Unix milliseconds (0 if not started); the
	// script ticks a running step's duration from it.
	StartedMS int64 `json:"started_ms,omitempty"`
}

// Duration renders the step's duration ("" before it started).
func (s LogStep) Duration() string {
	if s.DurationMS <= 0 && s.StartedMS == 0 {
		return ""
	}
	return FormatDuration(time.Duration(s.DurationMS) * time.Millisecond)
}

// Lines describes the step's line range ("lines 4–120", "no output").
func (s LogStep) Lines() string {
	switch {
	case s.First <= 0:
		return "not started"
	case s.Status == "running":
		return "from line " + strconv.Itoa(s.First)
	case s.Last < s.First:
		return "no output"
	case s.Last == s.First:
		return "line " + strconv.Itoa(s.First)
	}
	return fmt.Sprintf("lines %d–%d", s.First, s.Last)
}

// FormatDuration renders a duration the way build pages show it
// ("850ms", "12.3s", "4m 05s", "1h 02m").
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

// lineID is a line's element id and permalink anchor.
func lineID(n int) string { return "L" + strconv.Itoa(n) }

// pageLink is a no-JS link to the page of lines from n, anchored at n.
func (v LogView) pageLink(from, anchor int) string {
	return v.PageURL + "?from=" + strconv.Itoa(from) + "#" + lineID(anchor)
}

// matchLink is the no-JS link to a search match: its page, anchored.
func (v LogView) matchLink(n int) string {
	if n >= v.First && n <= v.Last {
		return "#" + lineID(n)
	}
	return v.pageLink(max(1, n-LogPageLines/2), n)
}

// stepLink jumps to a step's first line.
func (v LogView) stepLink(s LogStep) string {
	if s.First >= v.First && s.First <= v.Last {
		return "#" + lineID(s.First)
	}
	return v.pageLink(s.First, s.First)
}

// LogPageLines is how many lines a page of the viewer holds.
const LogPageLines = 1000

func (v LogView) earlierLink() string {
	if v.First <= 1 {
		return ""
	}
	from := max(1, v.First-LogPageLines)
	return v.pageLink(from, v.First-1)
}

func (v LogView) laterLink() string {
	if v.Last >= v.Total {
		return ""
	}
	return v.pageLink(v.Last+1, v.Last+1)
}

func (v LogView) rangeText() string {
	switch {
	case v.Total == 0 && v.Live:
		return "No output yet"
	case v.Total == 0:
		return "No output"
	case v.First > v.Last:
		return fmt.Sprintf("%d lines", v.Total)
	}
	return fmt.Sprintf("Lines %d–%d of %d", v.First, v.Last, v.Total)
}

// boxClass is the class of the box that holds the lines.
func (v LogView) boxClass() string {
	if v.Fit {
		// Utilities win over .log-js .log-box (a components-layer rule).
		return "log-box h-auto max-h-[60vh] overflow-auto"
	}
	return "log-box"
}

func itoa(n int) string { return strconv.Itoa(n) }

func boolAttr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
