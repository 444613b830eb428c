package pages

import "strconv"

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
