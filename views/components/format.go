package components

import (
	"fmt"
	"strings"
	"time"
)

// ButtonClass is the primary button style.
const ButtonClass = "inline-flex items-center justify-center rounded-md bg-emerald-600 px-3 py-2 text-sm font-medium text-white shadow-sm hover:bg-emerald-700 focus:outline-none focus:ring-2 focus:ring-emerald-500 focus:ring-offset-2 disabled:opacity-50"

// SecondaryButtonClass is the quiet button style.
const SecondaryButtonClass = "inline-flex items-center justify-center rounded-md border border-slate-300 bg-white px-3 py-2 text-sm font-medium text-slate-700 shadow-sm hover:bg-slate-50 focus:outline-none focus:ring-2 focus:ring-emerald-500 focus:ring-offset-2"

// DangerButtonClass is the style of destructive actions.
const DangerButtonClass = "inline-flex items-center justify-center rounded-md border border-red-300 bg-white px-3 py-2 text-sm font-medium text-red-700 shadow-sm hover:bg-red-50 focus:outline-none focus:ring-2 focus:ring-red-500 focus:ring-offset-2"

// InputClass is the style of text inputs and selects.
const InputClass = "mt-1 block w-full rounded-md border border-slate-300 px-3 py-2 text-sm shadow-sm focus:border-emerald-500 focus:outline-none focus:ring-2 focus:ring-emerald-500"

// StatusClass maps a status word to its colours.
func StatusClass(s string) string {
	switch s {
	case "succeeded", "live", "deployed", "pass", "passed", "approved", "active", "healthy":
		return "bg-emerald-50 text-emerald-800 ring-emerald-600/30"
	case "failed", "rejected", "fail", "crashed", "disabled", "interrupted", "error", "down":
		return "bg-red-50 text-red-800 ring-red-600/30"
	case "running", "deploying", "starting", "restarting":
		return "bg-sky-50 text-sky-800 ring-sky-600/30"
	case "queued", "pending", "waiting":
		return "bg-amber-50 text-amber-900 ring-amber-600/30"
	}
	return "bg-slate-100 text-slate-700 ring-slate-500/30"
}

// StatusText is a status as words: "rolled_back" reads "rolled back".
func StatusText(s string) string { return strings.ReplaceAll(s, "_", " ") }

// StatusIcon gives each status a shape so colour is never the only cue.
func StatusIcon(s string) string {
	switch s {
	case "succeeded", "live", "deployed", "pass", "passed", "approved", "active", "healthy":
		return "✓"
	case "failed", "rejected", "fail", "crashed", "interrupted", "error", "down":
		return "✗"
	case "running", "deploying", "starting", "restarting":
		return "◌"
	case "queued", "pending", "waiting":
		return "…"
	case "canceled", "disabled", "superseded", "rolled_back":
		return "–"
	}
	return "•"
}

// Relative renders t relative to now ("3 minutes ago", "in 2 hours").
func Relative(t, now time.Time) string {
	d := now.Sub(t)
	suffix := "ago"
	if d < 0 {
		d, suffix = -d, "from now"
	}
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds %s", int(d.Seconds()), suffix)
	case d < time.Hour:
		return plural(int(d.Minutes()), "minute") + " " + suffix
	case d < 24*time.Hour:
		return plural(int(d.Hours()), "hour") + " " + suffix
	case d < 30*24*time.Hour:
		return plural(int(d.Hours()/24), "day") + " " + suffix
	}
	return t.UTC().Format("2 Jan 2006")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// Duration renders a duration compactly ("1m 05s", "850ms").
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}
