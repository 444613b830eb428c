package pages

import "fmt"

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// pollLabel renders a poll interval in seconds ("5 minutes").
func pollLabel(sec int64) string {
	switch {
	case sec%3600 == 0:
		return plural(sec/3600, "hour")
	case sec%60 == 0:
		return plural(sec/60, "minute")
	}
	return plural(sec, "second")
}

// ariaInvalid marks the input a form error is about.
func ariaInvalid(errField, name string) string {
	if errField == name {
		return "true"
	}
	return "false"
}

// repoHint explains which repository URLs the user may link.
func repoHint(canLinkLocal bool) string {
	if canLinkLocal {
		return "https://…, ssh://git@host/path or git@host:path, or (admins) a local path or file:// URL."
	}
	return "https://… or ssh (ssh://git@host/path or git@host:path)."
}
