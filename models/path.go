package models

import (
	"net/url"
	"strings"
)

// Path builds an absolute URL path from its segments, each escaped as
// one path segment: Path("projects", slug, "environments", name) is
// "/projects/web/environments/staging", and a "/", "?" or "#" inside a
// name stays inside its segment. Pages, redirects and API answers build
// their links with it; a query string is added by the caller. It does
// not judge names: "." and ".." are kept (slugs and environment names are
// validated where they are created).
func Path(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}
