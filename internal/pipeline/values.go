package pipeline

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// app walks the app mapping and fills in its defaults.
func (p *parser) app(n *yaml.Node) (App, *Error) {
	if n.Kind != yaml.MappingNode {
		return App{}, p.errorAt(n, "app must be a mapping with a run command, got %s", describe(n))
	}
	fields, err := p.mapping(n, "in app", appKeys)
	if err != nil {
		return App{}, err
	}
	a := App{Health: DefaultHealthPath, HealthTimeout: DefaultHealthTimeout}
	for _, f := range fields {
		switch f.name {
		case "run":
			if a.Run, err = p.run(f.val, "app"); err != nil {
				return App{}, err
			}
		case "health":
			if a.Health, err = p.health(f.val); err != nil {
				return App{}, err
			}
		case "health_timeout":
			if a.HealthTimeout, err = p.duration(f.val, "app health_timeout", MaxHealthTimeout); err != nil {
				return App{}, err
			}
		case "env":
			if a.Env, err = p.env(f.val, "app", reservedAppEnv); err != nil {
				return App{}, err
			}
		case "instances":
			if a.Instances, err = p.instances(f.val, "app instances"); err != nil {
				return App{}, err
			}
		case "rollout_batch":
			if a.RolloutBatch, err = p.instances(f.val, "app rollout_batch"); err != nil {
				return App{}, err
			}
		case "balance":
			if a.Balance, err = p.balance(f.val); err != nil {
				return App{}, err
			}
		}
	}
	if a.Run == "" {
		return App{}, p.errorAt(n, `app has no "run" key; say which command starts the app (it must listen on $PORT)`)
	}
	return a, nil
}

// instances checks app.instances or app.rollout_batch (what): a whole
// number from 1 to MaxInstances.
func (p *parser) instances(n *yaml.Node, what string) (int, *Error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, p.errorAt(n, "%s must be a whole number from 1 to %d, got %s", what, MaxInstances, describe(n))
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 1 || v > MaxInstances {
		return 0, p.errorAt(n, "%s must be a whole number from 1 to %d, got %s", what, MaxInstances, clip(n.Value))
	}
	return v, nil
}

// balance checks app.balance: one of the balancing strategies.
func (p *parser) balance(n *yaml.Node) (string, *Error) {
	b, err := p.str(n, "app balance")
	if err != nil {
		return "", err
	}
	if b != BalanceLeastOutstanding && b != BalanceRoundRobin {
		return "", p.errorAt(n, "app balance must be %q or %q, got %q", BalanceLeastOutstanding, BalanceRoundRobin, clip(b))
	}
	return b, nil
}

// health checks app.health: a path on the app itself, with an optional query.
func (p *parser) health(n *yaml.Node) (string, *Error) {
	h, err := p.str(n, "app health")
	if err != nil {
		return "", err
	}
	switch {
	case !strings.HasPrefix(h, "/"):
		return "", p.errorAt(n, `app health must be an HTTP path starting with "/", like "/healthz"; got %q`, clip(h))
	case strings.HasPrefix(h, "//"):
		// "//host/x" would be read as another host by URL resolution.
		return "", p.errorAt(n, `app health %q must be a path on the app and not start with "//"`, clip(h))
	case len(h) > MaxHealthLen:
		return "", p.errorAt(n, "app health is %d characters long; the limit is %d", len(h), MaxHealthLen)
	case strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }):
		return "", p.errorAt(n, `app health %q must not contain spaces, control characters or "#"`, clip(h))
	}
	if _, err := url.ParseRequestURI(h); err != nil {
		return "", p.errorAt(n, "app health %q is not a valid URL path", clip(h))
	}
	return h, nil
}

// duration parses a timeout such as "90s" or "1h30m" and checks its bounds.
func (p *parser) duration(n *yaml.Node, what string, limit time.Duration) (time.Duration, *Error) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		return 0, p.errorAt(n, `%s needs a unit: write %q or %q, not %s`, what, n.Value+"s", n.Value+"m", n.Value)
	}
	s, err := p.str(n, what)
	if err != nil {
		return 0, err
	}
	d, perr := time.ParseDuration(s)
	switch {
	case perr != nil:
		return 0, p.errorAt(n, `%s: invalid duration %q; use a number with a unit, like "90s", "5m" or "1h30m"`, what, s)
	case d < MinTimeout:
		return 0, p.errorAt(n, "%s must be at least %s, got %q", what, shortDuration(MinTimeout), s)
	case d > limit:
		return 0, p.errorAt(n, "%s must be at most %s, got %q", what, shortDuration(limit), s)
	}
	return d, nil
}

// shortDuration prints whole hours and minutes without trailing zero units:
// "24h", "10m", "1h30m".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// str returns the value of a string scalar, or an error naming what was found.
func (p *parser) str(n *yaml.Node, what string) (string, *Error) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", p.errorAt(n, "%s must be a string, got %s", what, describe(n))
	}
	return n.Value, nil
}

// describe names the kind of value n holds, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.AliasNode:
		return "an alias"
	}
	switch tag := n.ShortTag(); tag {
	case "!!str":
		return fmt.Sprintf("the string %q", clip(n.Value))
	case "!!int", "!!float":
		return "the number " + clip(n.Value)
	case "!!bool":
		return "the boolean " + n.Value
	case "!!null":
		return "nothing"
	case "!!timestamp":
		return "the date " + clip(n.Value)
	default:
		return "a value tagged " + clip(tag)
	}
}

// clip shortens s for quoting in a message.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:37]) + "..."
	}
	return s
}

// resolve follows aliases to the node they name. The walk of a Config has a
// fixed depth, so an alias cycle (which yaml.v3 can build) cannot loop.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && i < 16; i++ {
		if n.Alias == nil {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
		}
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an empty value ("key:" or "~").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

// suggest returns ` (did you mean "x"?)` for the allowed key closest to
// name, if one is close enough to be a typo.
func suggest(name string, allowed []string) string {
	best, bestDist := "", 3
	lower := strings.ToLower(name)
	for _, a := range allowed {
		if d := editDistance(lower, a); d < bestDist && d <= len(a)/2 {
			best, bestDist = a, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, computed only
// for short strings: anything longer than a key could be is "far".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
