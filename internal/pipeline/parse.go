package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Allowed keys of each mapping, in the order the docs list them.
var (
	topKeys      = []string{"build", "artifact", "cache", "app", "timeout"}
	stepKeys     = []string{"name", "run", "env", "timeout"}
	artifactKeys = []string{"paths"}
	appKeys      = []string{"run", "health", "health_timeout", "env", "instances", "balance", "rollout_batch"}
	cacheKeys    = []string{"paths", "key_files"}
)

// parser holds the input of one Parse call.
type parser struct {
	file  string
	data  []byte
	lines int // number of lines, for keeping positions inside the file
}

// field is one key/value pair of a mapping; val has its aliases resolved.
type field struct {
	name string
	key  *yaml.Node
	val  *yaml.Node
}

func (p *parser) parse() (*Config, *Error) {
	if len(p.data) > MaxFileSize {
		return nil, p.errorAtPos(1, 1, "the file is %d bytes; the limit is %d bytes", len(p.data), MaxFileSize)
	}
	p.lines = len(splitLines(p.data))
	root, err := p.document()
	if err != nil {
		return nil, err
	}
	return p.config(root)
}

// document decodes the single YAML document of the file and returns its
// top-level node.
func (p *parser) document() (*yaml.Node, *Error) {
	dec := yaml.NewDecoder(bytes.NewReader(p.data))
	var doc yaml.Node
	if err := decode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.errorAtPos(1, 1, "the file is empty; it needs at least a build list of steps")
		}
		return nil, p.syntaxError(err)
	}
	var extra yaml.Node
	switch err := decode(dec, &extra); {
	case err == nil:
		return nil, p.errorAt(&extra, `the file holds more than one YAML document; remove the "---" separator and keep one`)
	case !errors.Is(err, io.EOF):
		return nil, p.syntaxError(err)
	}
	if len(doc.Content) == 0 {
		return nil, p.errorAt(&doc, "the file is empty; it needs at least a build list of steps")
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return nil, p.errorAt(root, "the file is empty; it needs at least a build list of steps")
	}
	return root, nil
}

// decode runs the YAML decoder and turns a panic inside it into an error:
// the file comes from the repository under build, and a parser bug on hostile
// input must fail the build, never the worker.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse this file (%v)", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the yaml.v3 messages raised by its parser rather than its
// scanner. yaml.v3 prints their line 0-based (one less than the real line),
// and leaves the line out when it is the first.
var parserProblems = []string{
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// syntaxError turns a yaml.v3 syntax error, which carries at best a line
// number, into a positioned *Error. The line is where the broken construct
// starts; the column is the first character on that line, since yaml.v3 does
// not report one. Tabs get a message of their own, at the tab itself,
// because "cannot start any token" does not tell anyone what to fix.
func (p *parser) syntaxError(err error) *Error {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if contains(parserProblems, msg) {
		line++
	}
	lines := splitLines(p.data)
	line = min(max(line, 1), len(lines))
	switch {
	case strings.Contains(msg, "tab character"):
		// yaml.v3 reports the line of the enclosing construct, not of the tab.
		if l, c, ok := findIndentTab(lines, max(line-1, 1), len(lines)); ok {
			return p.errorAtPos(l, c, "found a tab in the indentation; indent YAML with spaces only")
		}
	case strings.Contains(msg, "cannot start any token"):
		if l, c, ok := findIndentTab(lines, line, line); ok {
			return p.errorAtPos(l, c, "found a tab in the indentation; indent YAML with spaces only")
		}
	}
	return p.errorAtPos(line, firstNonBlank(lines[line-1]), "invalid YAML: %s", msg)
}

// splitLines splits data into lines the way YAML counts them (a line ends at
// \r\n, \r, \n, NEL, LS or PS), without their line breaks. It always
// returns at least one line.
func splitLines(data []byte) []string {
	var lines []string
	s := string(data)
	for {
		i := strings.IndexAny(s, "\r\n\u0085\u2028\u2029")
		if i < 0 {
			return append(lines, s)
		}
		lines = append(lines, s[:i])
		_, size := utf8.DecodeRuneInString(s[i:])
		if strings.HasPrefix(s[i:], "\r\n") {
			size = 2
		}
		s = s[i+size:]
	}
}

// findIndentTab finds the first line between from and to (1-based,
// inclusive) whose indentation holds a tab before some content, and returns
// the line and column of that tab.
func findIndentTab(lines []string, from, to int) (line, col int, ok bool) {
	for i := from - 1; i < to && i < len(lines); i++ {
		l := lines[i]
		rest := strings.TrimLeft(l, " \t")
		if rest == "" {
			continue
		}
		if j := strings.IndexByte(l[:len(l)-len(rest)], '\t'); j >= 0 {
			return i + 1, j + 1, true
		}
	}
	return 0, 0, false
}

// firstNonBlank returns the 1-based column of the first character of l that
// is not a space or tab, or 1 for a blank line.
func firstNonBlank(l string) int {
	rest := strings.TrimLeft(l, " \t")
	if rest == "" {
		return 1
	}
	return len(l) - len(rest) + 1
}

// config walks the top-level mapping.
func (p *parser) config(root *yaml.Node) (*Config, *Error) {
	if root.Kind != yaml.MappingNode {
		return nil, p.errorAt(root, "the top level must be a mapping with a build key, got %s", describe(root))
	}
	fields, err := p.mapping(root, "at the top level", topKeys)
	if err != nil {
		return nil, err
	}
	cfg := &Config{Timeout: DefaultBuildTimeout}
	var haveBuild bool
	var appKey, artifactKey *yaml.Node
	for _, f := range fields {
		switch f.name {
		case "build":
			haveBuild = true
			if cfg.Build, err = p.steps(f.val); err != nil {
				return nil, err
			}
		case "artifact":
			artifactKey = f.key
			if cfg.Artifact, err = p.artifact(f.val); err != nil {
				return nil, err
			}
		case "cache":
			if cfg.Cache, err = p.cache(f.val); err != nil {
				return nil, err
			}
		case "app":
			appKey = f.key
			if cfg.App, err = p.app(f.val); err != nil {
				return nil, err
			}
		case "timeout":
			if cfg.Timeout, err = p.duration(f.val, "timeout", MaxTimeout); err != nil {
				return nil, err
			}
		}
	}
	if !haveBuild {
		return nil, p.errorAt(root, `missing required key "build": list the steps that build the project`)
	}
	if appKey != nil && artifactKey == nil {
		return nil, p.errorAt(appKey, "app needs an artifact to run from: add artifact.paths with the files the app needs")
	}
	return cfg, nil
}

// mapping checks the keys of the mapping n: plain names, each allowed and
// none repeated. where completes "unknown key X ..." messages. It returns the
// pairs in file order.
func (p *parser) mapping(n *yaml.Node, where string, allowed []string) ([]field, *Error) {
	fields := make([]field, 0, len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if err := p.checkKey(k, where); err != nil {
			return nil, err
		}
		name := k.Value
		if !contains(allowed, name) {
			return nil, p.errorAt(k, "unknown key %q %s%s; allowed keys: %s",
				clip(name), where, suggest(name, allowed), strings.Join(allowed, ", "))
		}
		if first, ok := seen[name]; ok {
			return nil, p.errorAt(k, "key %q is repeated %s (first at line %d)", name, where, first.Line)
		}
		seen[name] = k
		fields = append(fields, field{name: name, key: k, val: v})
	}
	return fields, nil
}

// checkKey accepts only plain scalar keys.
func (p *parser) checkKey(k *yaml.Node, where string) *Error {
	if k.Kind != yaml.ScalarNode {
		return p.errorAt(k, "keys %s must be plain names, got %s", where, describe(k))
	}
	if k.ShortTag() == "!!merge" {
		return p.errorAt(k, "merge keys (<<) are not supported; write the keys out")
	}
	return nil
}

// steps walks the build list.
func (p *parser) steps(n *yaml.Node) ([]Step, *Error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorAt(n, "build must be a list of steps, got %s", describe(n))
	}
	if len(n.Content) == 0 {
		return nil, p.errorAt(n, "build is empty; add at least one step with a run command")
	}
	steps := make([]Step, 0, len(n.Content))
	byName := make(map[string]int, len(n.Content)) // name → index in steps
	for i, orig := range n.Content {
		item := resolve(orig)
		s, nameNode, err := p.step(item, i+1)
		if err != nil {
			return nil, err
		}
		if j, dup := byName[s.Name]; dup {
			if orig.Kind == yaml.AliasNode {
				// The name node belongs to the anchored step; point at the repeat.
				nameNode = orig
			}
			if nameNode == nil {
				return nil, p.errorAt(item, "step %d has no name and its automatic name %q is already used by step %d (line %d); name one of them",
					i+1, s.Name, j+1, steps[j].Line)
			}
			return nil, p.errorAt(nameNode, "step name %q is already used by step %d (line %d); step names must be unique",
				s.Name, j+1, steps[j].Line)
		}
		byName[s.Name] = len(steps)
		steps = append(steps, s)
	}
	return steps, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// step walks one item of the build list, the num-th (1-based). It returns the
// name node when the step names itself, nil when the name is automatic.
func (p *parser) step(n *yaml.Node, num int) (Step, *yaml.Node, *Error) {
	s := Step{Name: "step-" + strconv.Itoa(num), Timeout: DefaultStepTimeout, Line: n.Line}
	what := "step " + strconv.Itoa(num)
	switch {
	case isNull(n):
		return s, nil, p.errorAt(n, "%s is empty; give it a run command", what)
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		// A bare string is a step with only a run command: "- make test".
		run, err := p.run(n, what)
		s.Run = run
		return s, nil, err
	case n.Kind != yaml.MappingNode:
		return s, nil, p.errorAt(n, "%s must be a mapping with a run key (or a command string), got %s", what, describe(n))
	}
	fields, err := p.mapping(n, "in "+what, stepKeys)
	if err != nil {
		return s, nil, err
	}
	var nameNode *yaml.Node
	var haveRun bool
	for _, f := range fields {
		switch f.name {
		case "name":
			nameNode = f.val
			if s.Name, err = p.stepName(f.val, what); err != nil {
				return s, nil, err
			}
		case "run":
			haveRun = true
			if s.Run, err = p.run(f.val, what); err != nil {
				return s, nil, err
			}
		case "env":
			if s.Env, err = p.env(f.val, what, reservedStepEnv); err != nil {
				return s, nil, err
			}
		case "timeout":
			if s.Timeout, err = p.duration(f.val, what+" timeout", MaxTimeout); err != nil {
				return s, nil, err
			}
		}
	}
	if !haveRun {
		label := what
		if nameNode != nil {
			label = fmt.Sprintf("%s (%q)", what, s.Name)
		}
		return s, nil, p.errorAt(n, `%s has no "run" key; say which command the step runs`, label)
	}
	return s, nameNode, nil
}

func (p *parser) stepName(n *yaml.Node, what string) (string, *Error) {
	name, err := p.str(n, what+" name")
	if err != nil {
		return "", err
	}
	if len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return "", p.errorAt(n, "%s: invalid name %q: use at most %d letters, digits, '.', '_' or '-', starting with a letter or digit",
			what, clip(name), MaxNameLen)
	}
	return name, nil
}

// run checks a shell command: a non-blank string that exec can pass on.
func (p *parser) run(n *yaml.Node, what string) (string, *Error) {
	run, err := p.str(n, what+" run")
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(run) == "" {
		return "", p.errorAt(n, "%s: run is empty; say which command to run", what)
	}
	if strings.ContainsRune(run, 0) {
		return "", p.errorAt(n, "%s: run contains a NUL character", what)
	}
	return run, nil
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedStepEnv explains why a step may not set name, or returns "".
func reservedStepEnv(name string) string {
	if strings.HasPrefix(strings.ToUpper(name), "SLIPWAY_") {
		return "Slipway sets the SLIPWAY_* variables itself"
	}
	return ""
}

// reservedAppEnv explains why the app may not set name, or returns "".
func reservedAppEnv(name string) string { return ReservedAppEnv(name) }

// ReservedAppEnv explains why a deployed app's environment may not set
// name — in .slipway.yml or as an environment's variable or secret — or
// returns "". It is the one list both places check.
func ReservedAppEnv(name string) string {
	switch name {
	case "PORT":
		return "Slipway sets PORT to the port the app must listen on"
	case "HOST", "BIND":
		return "Slipway sets HOST and BIND to 127.0.0.1, the only address the edge reaches"
	}
	return reservedStepEnv(name)
}

// env walks an env mapping of NAME: value.
func (p *parser) env(n *yaml.Node, what string, reserved func(string) string) (map[string]string, *Error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errorAt(n, "%s env must be a mapping of NAME: value, got %s", what, describe(n))
	}
	if len(n.Content) == 0 {
		return nil, nil
	}
	env := make(map[string]string, len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if err := p.checkKey(k, "in "+what+" env"); err != nil {
			return nil, err
		}
		name := k.Value
		if !envNameRE.MatchString(name) {
			return nil, p.errorAt(k, "%s: invalid env name %q: use letters, digits and '_', not starting with a digit", what, clip(name))
		}
		if why := reserved(name); why != "" {
			return nil, p.errorAt(k, "%s: env name %q is reserved: %s", what, name, why)
		}
		if line, ok := seen[name]; ok {
			return nil, p.errorAt(k, "%s: env %s is repeated (first at line %d)", what, name, line)
		}
		seen[name] = k.Line
		switch {
		case isNull(v):
			return nil, p.errorAt(v, `%s: env %s has no value; write %s: "" for an empty string`, what, name, name)
		case v.Kind != yaml.ScalarNode || !contains([]string{"!!str", "!!int", "!!float", "!!bool", "!!timestamp"}, v.ShortTag()):
			return nil, p.errorAt(v, "%s: env %s must be a string, number or boolean, got %s", what, name, describe(v))
		case strings.ContainsRune(v.Value, 0):
			return nil, p.errorAt(v, "%s: env %s contains a NUL character", what, name)
		}
		// Numbers and booleans keep their spelling: PORT: 08 stays "08".
		env[name] = v.Value
	}
	return env, nil
}

// artifact walks the artifact mapping.
func (p *parser) artifact(n *yaml.Node) (Artifact, *Error) {
	if n.Kind != yaml.MappingNode {
		return Artifact{}, p.errorAt(n, "artifact must be a mapping with a paths list, got %s", describe(n))
	}
	fields, err := p.mapping(n, "in artifact", artifactKeys)
	if err != nil {
		return Artifact{}, err
	}
	var a Artifact
	for _, f := range fields {
		if a.Paths, err = p.paths(f.val, "artifact", true); err != nil {
			return Artifact{}, err
		}
	}
	if a.Paths == nil {
		return Artifact{}, p.errorAt(n, `artifact has no "paths" key; list the files or directories the build keeps`)
	}
	return a, nil
}

// cache walks the cache mapping.
func (p *parser) cache(n *yaml.Node) (Cache, *Error) {
	if n.Kind != yaml.MappingNode {
		return Cache{}, p.errorAt(n, "cache must be a mapping with a paths list, got %s", describe(n))
	}
	fields, err := p.mapping(n, "in cache", cacheKeys)
	if err != nil {
		return Cache{}, err
	}
	var c Cache
	for _, f := range fields {
		switch f.name {
		case "paths":
			if c.Paths, err = p.paths(f.val, "cache", true); err != nil {
				return Cache{}, err
			}
		case "key_files":
			if c.KeyFiles, err = p.paths(f.val, "cache key_files", false); err != nil {
				return Cache{}, err
			}
		}
	}
	if c.Paths == nil {
		return Cache{}, p.errorAt(n, `cache has no "paths" key; list the files or directories to keep from one build to the next`)
	}
	return c, nil
}

// paths walks a list of workspace paths: artifact.paths, cache.paths or
// cache.key_files (what names it in messages). When noOverlap is set, no
// path may be inside another. Overlaps are found through a map of every
// ancestor directory, so a hostile file with many paths stays linear.
func (p *parser) paths(n *yaml.Node, what string, noOverlap bool) ([]string, *Error) {
	label := what + " path"
	if what == "cache key_files" {
		label = "cache key file"
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errorAt(n, "%s must be a list of files or directories, got %s", plural(what), describe(n))
	}
	if len(n.Content) == 0 {
		if what == "artifact" {
			return nil, p.errorAt(n, "artifact paths is empty; list the files or directories the build keeps, or remove the artifact section")
		}
		return nil, p.errorAt(n, "%s is empty; list the files or directories, or remove the key", plural(what))
	}
	paths := make([]string, 0, len(n.Content))
	nodeOf := make(map[string]*yaml.Node, len(n.Content)) // listed path → its node
	ancestors := make(map[string]string, len(n.Content))  // directory → a listed path inside it
	for _, item := range n.Content {
		item = resolve(item)
		raw, err := p.str(item, label)
		if err != nil {
			return nil, err
		}
		clean, problem := cleanPath(raw, what)
		if problem != "" {
			return nil, p.errorAt(item, "%s %q %s", label, clip(raw), problem)
		}
		if first, ok := nodeOf[clean]; ok {
			return nil, p.errorAt(item, "%s %q is listed twice (first at line %d, column %d)", label, raw, first.Line, first.Column)
		}
		if noOverlap {
			if inner, ok := ancestors[clean]; ok {
				return nil, p.errorAt(item, "%s %q contains %q (line %d); keep only one of them", label, raw, inner, nodeOf[inner].Line)
			}
			for dir := clean; ; {
				i := strings.LastIndexByte(dir, '/')
				if i < 0 {
					break
				}
				dir = dir[:i]
				if outer, ok := nodeOf[dir]; ok {
					return nil, p.errorAt(item, "%s %q is inside %q (line %d), which is already kept", label, raw, dir, outer.Line)
				}
				if _, ok := ancestors[dir]; !ok {
					ancestors[dir] = clean
				}
			}
		}
		nodeOf[clean] = item
		paths = append(paths, clean)
	}
	return paths, nil
}

// plural names the list of what in messages: "artifact paths", "cache
// paths", "cache key_files".
func plural(what string) string {
	if strings.HasSuffix(what, "key_files") {
		return what
	}
	return what + " paths"
}

// cleanArtifactPath is cleanPath for artifact.paths.
func cleanArtifactPath(raw string) (clean, problem string) { return cleanPath(raw, "artifact") }

// cleanPath returns the canonical form of a workspace path (one trailing
// slash allowed and dropped), or why the path is refused. what says whose
// path it is (artifact, cache, cache key_files).
func cleanPath(raw, what string) (clean, problem string) {
	switch {
	case raw == "":
		return "", "is empty"
	case strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", "contains a control character"
	case strings.HasPrefix(raw, "/"):
		return "", "must be relative to the repository root, not absolute"
	case strings.ContainsAny(raw, "*?["):
		return "", "looks like a glob; globs are not supported, list the files or directories"
	}
	q := strings.TrimSuffix(raw, "/")
	for _, part := range strings.Split(q, "/") {
		if part == ".." {
			if what == "artifact" {
				return "", `must not contain ".."; the artifact comes from inside the workspace`
			}
			return "", `must not contain ".."; the cache holds only paths inside the workspace`
		}
	}
	if q == "" || q == "." {
		if what == "artifact" {
			return "", "names the whole workspace; list the files or directories to keep"
		}
		return "", "names the whole workspace; list the files or directories inside it"
	}
	if c := path.Clean(q); c != q {
		return "", fmt.Sprintf("is not clean; write %q", c)
	}
	if what == "cache" && (q == ".git" || strings.HasPrefix(q, ".git/") || q == DefaultFile) {
		return "", "is part of the checkout; the cache may not replace it"
	}
	return q, ""
}
