package pages

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/slipway-ci/slipway/models"
)

func buildURL(id int64) string { return "/builds/" + strconv.FormatInt(id, 10) }

func runBuildURL(project string) string {
	if project == "" {
		return "/builds/new"
	}
	return "/builds/new?" + url.Values{"project": {project}}.Encode()
}

func runAgainURL(project, ref string) string {
	return "/builds/new?" + url.Values{"project": {project}, "ref": {ref}}.Encode()
}

// refLabel shows a commit ref as its short SHA and names as they are.
func refLabel(ref, refType string) string {
	if refType == "commit" {
		return models.ShortSHA(ref)
	}
	return ref
}

func triggerText(trigger, by string) string {
	var what string
	switch trigger {
	case "manual":
		what = "Run by hand"
	case "api":
		what = "Started through the API"
	case "webhook":
		what = "Push webhook"
	case "poll":
		what = "Repository poll"
	case "push":
		what = "Push to the hosted repository"
	case "ide":
		what = "Commit from the web IDE"
	default:
		what = trigger
	}
	if by != "" {
		return what + " by " + by
	}
	return what
}

func exitCode(c *int) string {
	if c == nil {
		return "–"
	}
	return strconv.Itoa(*c)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}

func artifactHint(status string) string {
	switch status {
	case "queued", "running":
		return "The artifact is packed when every step has succeeded."
	case "succeeded":
		return "This build declares no artifact (artifact.paths in .slipway.yml)."
	}
	return "No artifact: the build did not succeed."
}

func lineRange(first, last int) string {
	if last <= first {
		return "log line " + strconv.Itoa(first)
	}
	return "log lines " + strconv.Itoa(first) + "–" + strconv.Itoa(last)
}
