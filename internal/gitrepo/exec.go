package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const (
	// defaultPath is used when the portal itself has no PATH.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// maxStderr bounds how much of git's stderr is kept for messages.
	maxStderr = 64 << 10
	// waitDelay bounds how long a canceled git may keep its pipes open
	// (through ssh or helper children) before Wait gives up on them.
	waitDelay = 5 * time.Second
)

// gitError is the hidden cause of a failed git command.
type gitError struct {
	Args   []string // redacted
	Stderr string   // scrubbed of credentials
	Err    error
}

func (e *gitError) Error() string {
	msg := fmt.Sprintf("git %s: %v", strings.Join(e.Args, " "), e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *gitError) Unwrap() error { return e.Err }

// invocation is one git command line and the environment it runs in.
type invocation struct {
	gitDir   string
	workTree string
	dir      string
	env      []string // added to the clean base environment
	config   []string // "key=value" pairs passed as -c
	stdout   io.Writer
	stdin    io.Reader
	scrub    []string // secrets removed from stderr and arguments in errors
}

// baseEnv is the whole environment git sees: nothing of the portal's own
// but PATH. No user or system config, no prompts, messages in English so
// they can be classified.
func baseEnv() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	return []string{
		"PATH=" + path,
		"HOME=/nonexistent",
		"LC_ALL=C",
		"LANG=C",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=/bin/false",
		"SSH_ASKPASS=/bin/false",
		"SSH_ASKPASS_REQUIRE=never",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_ATTR_NOSYSTEM=1",
		"GIT_LITERAL_PATHSPECS=1",
		"GIT_NO_REPLACE_OBJECTS=1",
	}
}

// run executes git and returns its stdout (unless inv.stdout is set).
// On ctx cancel the whole process group is killed, so ssh and helper
// children go too.
func (inv invocation) run(ctx context.Context, args ...string) ([]byte, error) {
	argv := make([]string, 0, len(args)+2*len(inv.config)+2)
	if inv.gitDir != "" {
		argv = append(argv, "--git-dir="+inv.gitDir)
	}
	if inv.workTree != "" {
		argv = append(argv, "--work-tree="+inv.workTree)
	}
	for _, kv := range inv.config {
		argv = append(argv, "-c", kv)
	}
	argv = append(argv, args...)

	cmd := exec.CommandContext(ctx, "git", argv...)
	cmd.Env = append(baseEnv(), inv.env...)
	cmd.Dir = inv.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	cmd.Stdin = inv.stdin
	var out bytes.Buffer
	if inv.stdout != nil {
		cmd.Stdout = inv.stdout
	} else {
		cmd.Stdout = &out
	}
	stderr := &tailBuffer{max: maxStderr}
	cmd.Stderr = stderr
	err := cmd.Run()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, &gitError{
			Args:   inv.redact(argv),
			Stderr: inv.scrubText(stderr.String()),
			Err:    err,
		}
	}
	return out.Bytes(), nil
}

func (inv invocation) scrubText(s string) string {
	for _, secret := range inv.scrub {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "***")
		}
	}
	return s
}

func (inv invocation) redact(argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = inv.scrubText(RedactURL(a))
	}
	return out
}

// tailBuffer keeps the first max bytes written to it (git prints the
// interesting "fatal:" line early) and counts the rest.
type tailBuffer struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	room := b.max - b.buf.Len()
	if room > len(p) {
		room = len(p)
	}
	if room > 0 {
		b.buf.Write(p[:room])
	}
	b.dropped += len(p) - room
	return len(p), nil
}

func (b *tailBuffer) String() string {
	if b.dropped > 0 {
		return b.buf.String() + fmt.Sprintf("\n[%d more bytes]", b.dropped)
	}
	return b.buf.String()
}

// remoteSession prepares git to talk to one remote: the transport the URL
// names is the only one allowed, and an SSH key, if any, lives in a 0600
// temporary file until cleanup is called.
type remoteSession struct {
	inv invocation
	// url is what git is given: r.URL, or for ssh the same with the
	// checked IP in place of the host name.
	url     string
	cleanup func()
}

func openRemote(ctx context.Context, r Remote) (*remoteSession, error) {
	ep, err := validateURL(r.URL, r.AllowHTTP)
	if err != nil {
		return nil, err
	}
	tr := ep.tr
	// The address check happens here, right before every git command
	// that may connect, and git is pinned to what was checked.
	addrs, err := checkedAddrs(ctx, r, ep)
	if err != nil {
		return nil, err
	}
	pinnedURL, pinCfg, sshOpts := ep.pin(r.URL, addrs)
	s := &remoteSession{url: pinnedURL, cleanup: func() {}}
	s.inv.scrub = credentials(r.URL)
	// protocol.allow=never first, then exactly the one transport in use:
	// even a redirect or a crafted URL cannot make git speak another
	// protocol (file:// is allowed only for local repositories).
	s.inv.config = []string{
		"protocol.allow=never",
		"protocol." + string(tr) + ".allow=always",
		"gc.autoDetach=false",
		"credential.helper=",
		"core.askPass=/bin/false",
	}
	s.inv.config = append(s.inv.config, pinCfg...)
	if tr == transportSSH {
		sshCmd := []string{"ssh",
			"-o", "BatchMode=yes",
			"-o", "IdentitiesOnly=yes",
			"-o", "StrictHostKeyChecking=accept-new",
			"-o", "ConnectTimeout=30",
		}
		sshCmd = append(sshCmd, sshOpts...)
		if r.KnownHostsFile != "" {
			sshCmd = append(sshCmd, "-o", "UserKnownHostsFile="+shellQuote(r.KnownHostsFile))
		}
		if len(r.SSHKey) > 0 {
			keyFile, err := writeKey(r.SSHKey)
			if err != nil {
				return nil, err
			}
			s.cleanup = func() { _ = os.Remove(keyFile) }
			sshCmd = append(sshCmd, "-i", shellQuote(keyFile))
		}
		s.inv.env = append(s.inv.env, "GIT_SSH_COMMAND="+strings.Join(sshCmd, " "), "GIT_SSH_VARIANT=ssh")
	}
	return s, nil
}

// writeKey stores a private key in a fresh 0600 file (os.CreateTemp's
// mode) for ssh -i. OpenSSH rejects keys without a final newline.
func writeKey(key []byte) (string, error) {
	f, err := os.CreateTemp("", "slipway-key-*")
	if err != nil {
		return "", fmt.Errorf("gitrepo: write ssh key: %w", err)
	}
	if !bytes.HasSuffix(key, []byte("\n")) {
		key = append(append([]byte(nil), key...), '\n')
	}
	_, werr := f.Write(key)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("gitrepo: write ssh key: %w", err)
	}
	return f.Name(), nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// remoteError turns a failed network command into an *Error whose message
// the user can act on. Context errors pass through unchanged.
func remoteError(r Remote, err error) error {
	var ge *gitError
	if !errors.As(err, &ge) {
		return err
	}
	low := strings.ToLower(ge.Stderr)
	for _, p := range authPatterns {
		if strings.Contains(low, p) {
			msg := ErrAuthRefused.Error() + ": " + RedactURL(r.URL)
			if d := detail(ge.Stderr); d != "" {
				msg += ": " + d
			}
			return &Error{Kind: ErrAuthRefused, Msg: msg, Err: err}
		}
	}
	// Everything else reads the same: what git, curl or ssh said about the
	// connection (refused, reset, wrong protocol, TLS alert...) would tell
	// a user which ports listen on a host; it goes to the logs only.
	return unreachable(r, err)
}

// authPatterns are lower-case fragments of git, curl and ssh messages that
// mean the server wanted (other) credentials.
var authPatterns = []string{
	"authentication failed",
	"could not read username",
	"could not read password",
	"terminal prompts disabled",
	"permission denied (publickey",
	"permission denied, please try again",
	"invalid username or password",
	"requested url returned error: 401",
	"requested url returned error: 403",
	"http basic: access denied",
}

// detail picks the most telling line of git's stderr: the first "fatal:"
// line that is not git's generic "Could not read from remote repository"
// advice, else the first other line (ssh prints its reason unprefixed).
func detail(stderr string) string {
	lines := strings.Split(stderr, "\n")
	for _, fatalOnly := range []bool{true, false} {
		for _, line := range lines {
			line = strings.TrimSpace(line)
			rest, isFatal := strings.CutPrefix(line, "fatal: ")
			if fatalOnly && !isFatal {
				continue
			}
			for _, prefix := range []string{"error: ", "remote: ", "ERROR: "} {
				rest = strings.TrimPrefix(rest, prefix)
			}
			switch {
			case rest == "",
				strings.HasPrefix(rest, "Could not read from remote repository"),
				strings.HasPrefix(rest, "Please make sure you have the correct access rights"),
				strings.HasPrefix(rest, "and the repository exists"),
				strings.HasPrefix(rest, "unable to read askpass response"):
				continue
			}
			if len(rest) > 300 {
				rest = rest[:300] + "…"
			}
			return rest
		}
	}
	return ""
}
