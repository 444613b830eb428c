package pages

import (
	"strconv"
	"strings"

	"github.com/slipway-ci/slipway/views/components"
)

func planSuffix(plan string) string {
	if plan == "" {
		return " · inline spec"
	}
	return " · plan " + plan
}

func barWidth(pct float64) string {
	return "width: " + strconv.FormatFloat(max(pct, 0), 'f', 1, 64) + "%"
}

func statusCodeLabel(code string) string {
	if code == "0" {
		return "no response"
	}
	return code
}

// fieldClass is the input class of a form field, with a red border when
// it is invalid (replacing the grey one: both set the border colour, and
// the stylesheet's order would otherwise let the grey win).
func fieldClass(invalid bool) string {
	if invalid {
		return strings.Replace(components.InputClass, "border-slate-300", "border-red-500 bg-red-50", 1)
	}
	return components.InputClass
}

// verdictSummary says in words how many checks passed.
func verdictSummary(checks []CheckRow) string {
	failed := 0
	for _, c := range checks {
		if !c.Pass {
			failed++
		}
	}
	switch {
	case len(checks) == 0:
		return "No check was recorded."
	case failed == 0:
		return "Every check passed (" + strconv.Itoa(len(checks)) + " of " + strconv.Itoa(len(checks)) + ")."
	}
	return strconv.Itoa(failed) + " of " + strconv.Itoa(len(checks)) + " checks failed."
}
