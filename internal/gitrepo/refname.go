package gitrepo

import (
	"fmt"
	"strings"
)

// CheckRefFormat checks a full ref name ("refs/heads/main") by the rules
// of git check-ref-format, and says which rule it breaks: refs arrive in
// webhook payloads, are stored, shown and handed to git.
func CheckRefFormat(name string) error {
	bad := func(why string) error { return fmt.Errorf("%q is not a valid git ref name: %s", name, why) }
	switch {
	case name == "":
		return bad("it is empty")
	case len(name) > 255:
		return fmt.Errorf("the ref name is longer than 255 bytes")
	case name == "@":
		return bad(`it is "@"`)
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return bad("it begins or ends with /")
	case strings.HasSuffix(name, "."):
		return bad("it ends with .")
	case !strings.Contains(name, "/"):
		return bad("it has no /")
	case strings.Contains(name, "//"):
		return bad("it has an empty component (//)")
	case strings.Contains(name, ".."):
		return bad("it contains ..")
	case strings.Contains(name, "@{"):
		return bad("it contains @{")
	}
	for _, c := range []byte(name) {
		switch {
		case c < 0x20 || c == 0x7f:
			return bad("it contains a control character")
		case strings.IndexByte(" ~^:?*[\\", c) >= 0:
			return bad(fmt.Sprintf("it contains %q", string(c)))
		}
	}
	for _, comp := range strings.Split(name, "/") {
		if strings.HasPrefix(comp, ".") {
			return bad("a component begins with .")
		}
		if strings.HasSuffix(comp, ".lock") {
			return bad("a component ends with .lock")
		}
	}
	return nil
}
