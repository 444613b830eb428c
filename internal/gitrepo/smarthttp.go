package gitrepo

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The two smart-HTTP services.
const (
	UploadPack  = "git-upload-pack"
	ReceivePack = "git-receive-pack"
)

// ZeroSHA is the object name git uses for "no commit" (a created or
// deleted ref).
const ZeroSHA = "0000000000000000000000000000000000000000"

// MaxPushInput caps one push's pack (receive.maxInputSize).
const MaxPushInput = 1 << 30

var protocolRE = regexp.MustCompile(`^[A-Za-z0-9=._-]+(?::[A-Za-z0-9=._-]+)*$`)

// Service is one smart-HTTP exchange with a repository Slipway hosts.
type Service struct {
	// Dir is the bare repository.
	Dir string
	// Name is UploadPack or ReceivePack.
	Name string
	// Protocol is the client's Git-Protocol header ("version=2"); it is
	// passed on as GIT_PROTOCOL when well-formed and ignored otherwise.
	Protocol string
	// HooksDir holds the pre-receive hook (see InstallHooks); required for
	// ReceivePack.
	HooksDir string
	// DefaultBranch is the branch the pre-receive hook protects: no
	// deletion, no non-fast-forward update unless AllowForcePush, no update
	// at all unless MayPushDefault.
	DefaultBranch string
	// MayPushDefault says the pusher's role may move the default branch;
	// AllowForcePush lets a push rewrite it. The caller decides both from
	// the authenticated user and the project, and they reach the hook as
	// environment variables set here, which nothing in a push can change
	// (push options are not accepted).
	MayPushDefault bool
	AllowForcePush bool
}

func (s Service) invocation() (invocation, string, error) {
	var sub string
	switch s.Name {
	case UploadPack:
		sub = "upload-pack"
	case ReceivePack:
		sub = "receive-pack"
		if s.HooksDir == "" {
			return invocation{}, "", errors.New("gitrepo: receive-pack without hooks")
		}
	default:
		return invocation{}, "", fmt.Errorf("gitrepo: unknown service %q", s.Name)
	}
	inv := invocation{config: []string{
		"protocol.allow=never",
		"uploadpack.allowFilter=true",
		"receive.fsckObjects=true",
		"receive.maxInputSize=" + strconv.Itoa(MaxPushInput),
		"receive.advertisePushOptions=false",
		"gc.autoDetach=false",
	}}
	if s.HooksDir != "" {
		inv.config = append(inv.config, "core.hooksPath="+s.HooksDir)
	}
	if s.Protocol != "" && len(s.Protocol) < 256 && protocolRE.MatchString(s.Protocol) {
		inv.env = append(inv.env, "GIT_PROTOCOL="+s.Protocol)
	}
	if s.DefaultBranch != "" {
		inv.env = append(inv.env, "SLIPWAY_DEFAULT_BRANCH="+s.DefaultBranch,
			"SLIPWAY_PUSH_DEFAULT="+allowDeny(s.MayPushDefault), "SLIPWAY_FORCE_PUSH="+allowDeny(s.AllowForcePush))
	}
	return inv, sub, nil
}

func allowDeny(b bool) string {
	if b {
		return "allow"
	}
	return "deny"
}

// protocolV2 reports whether the client asked for protocol version 2.
func (s Service) protocolV2() bool {
	for _, p := range strings.Split(s.Protocol, ":") {
		if p == "version=2" {
			return true
		}
	}
	return false
}

// AdvertiseRefs writes the answer to GET info/refs?service=<Name>: the
// service announcement (protocol v0/v1 only) and the refs, or v2's
// capability list.
func (s Service) AdvertiseRefs(ctx context.Context, w io.Writer) error {
	inv, sub, err := s.invocation()
	if err != nil {
		return err
	}
	if !s.protocolV2() {
		line := "# service=" + s.Name + "\n"
		if _, err := fmt.Fprintf(w, "%04x%s0000", len(line)+4, line); err != nil {
			return err
		}
	}
	inv.stdout = w
	if _, err := inv.run(ctx, sub, "--stateless-rpc", "--advertise-refs", s.Dir); err != nil {
		return fmt.Errorf("gitrepo: %s advertise: %w", sub, err)
	}
	return nil
}

// RPC runs one stateless exchange (POST /<Name>): the request body goes
// to git's stdin, git's answer streams to w as it is made.
func (s Service) RPC(ctx context.Context, body io.Reader, w io.Writer) error {
	inv, sub, err := s.invocation()
	if err != nil {
		return err
	}
	inv.stdin, inv.stdout = body, w
	if _, err := inv.run(ctx, sub, "--stateless-rpc", s.Dir); err != nil {
		return fmt.Errorf("gitrepo: %s: %w", sub, err)
	}
	return nil
}

// preReceive refuses, for every push: refs outside refs/heads and
// refs/tags, deleting the default branch, any update of it unless
// SLIPWAY_PUSH_DEFAULT is "allow", and non-fast-forward updates of it
// unless SLIPWAY_FORCE_PUSH is "allow" (anything else, unset included,
// refuses). It reads the ref updates git gives it on stdin; nothing in a ref
// name or object ID is ever evaluated by the shell.
const preReceive = `#!/bin/sh
# Installed by Slipway. Refuses what its push policy forbids.
status=0
while read -r old new ref; do
	case "$ref" in
	refs/heads/*|refs/tags/*) ;;
	*) echo "slipway: only branches and tags can be pushed; refused $ref"; status=1; continue ;;
	esac
	[ -n "$SLIPWAY_DEFAULT_BRANCH" ] && [ "$ref" = "refs/heads/$SLIPWAY_DEFAULT_BRANCH" ] || continue
	case "$new" in
	*[!0]*) ;;
	*) echo "slipway: the default branch $SLIPWAY_DEFAULT_BRANCH cannot be deleted"; status=1; continue ;;
	esac
	if [ "$SLIPWAY_PUSH_DEFAULT" != allow ]; then
		echo "slipway: pushes to the default branch $SLIPWAY_DEFAULT_BRANCH are limited to leads and admins in this project; push another branch and ask a lead to merge it"
		status=1
		continue
	fi
	[ "$SLIPWAY_FORCE_PUSH" = allow ] && continue
	case "$old" in
	*[!0]*)
		if ! git merge-base --is-ancestor "$old" "$new"; then
			echo "slipway: force-push to the default branch $SLIPWAY_DEFAULT_BRANCH refused: $new does not contain $old (pull and merge or rebase first; a lead can allow force-pushes in the project's settings)"
			status=1
		fi ;;
	esac
done
exit $status
`

// InstallHooks writes the pre-receive hook into dir (made if missing),
// replacing an older version atomically.
func InstallHooks(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("gitrepo: hooks: %w", err)
	}
	final := filepath.Join(dir, "pre-receive")
	if cur, err := os.ReadFile(final); err == nil && string(cur) == preReceive {
		return nil
	}
	f, err := os.CreateTemp(dir, ".pre-receive-*")
	if err != nil {
		return fmt.Errorf("gitrepo: hooks: %w", err)
	}
	_, werr := f.WriteString(preReceive)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o755)); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("gitrepo: hooks: %w", err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("gitrepo: hooks: %w", err)
	}
	return nil
}

// RefUpdate is one command of a push: ref goes from Old to New (ZeroSHA
// for a created or deleted ref).
type RefUpdate struct {
	Old, New, Ref string
}

// maxCommandBytes bounds how much of a push's command section is kept.
const maxCommandBytes = 1 << 20

// CommandSniffer passes a receive-pack request through unchanged and
// keeps the ref updates of its command section (the pkt-lines before the
// first flush), so the caller knows what a push asked for.
type CommandSniffer struct {
	R    io.Reader
	buf  bytes.Buffer
	done bool
}

// Read reads from R, recording the command section.
func (c *CommandSniffer) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	if !c.done && n > 0 {
		c.buf.Write(p[:n])
		if c.buf.Len() > maxCommandBytes || c.sectionEnd() >= 0 {
			c.done = true
		}
	}
	return n, err
}

// sectionEnd returns the offset just past the flush packet that ends the
// command section, or -1 while it is incomplete.
func (c *CommandSniffer) sectionEnd() int {
	b := c.buf.Bytes()
	off := 0
	for off+4 <= len(b) {
		n, err := strconv.ParseUint(string(b[off:off+4]), 16, 16)
		if err != nil {
			return len(b) // not pkt-lines: stop looking
		}
		if n == 0 {
			return off + 4
		}
		if n < 4 || off+int(n) > len(b) {
			if n < 4 {
				return len(b)
			}
			return -1
		}
		off += int(n)
	}
	return -1
}

// Updates parses the recorded command section.
func (c *CommandSniffer) Updates() []RefUpdate {
	b := c.buf.Bytes()
	var out []RefUpdate
	off := 0
	for off+4 <= len(b) {
		n, err := strconv.ParseUint(string(b[off:off+4]), 16, 16)
		if err != nil || n == 0 || n < 4 || off+int(n) > len(b) {
			break
		}
		line := string(b[off+4 : off+int(n)])
		off += int(n)
		line, _, _ = strings.Cut(line, "\x00") // capabilities follow the first command
		line = strings.TrimSuffix(line, "\n")
		f := strings.Fields(line)
		if len(f) != 3 || !isHex(f[0]) || !isHex(f[1]) {
			continue // "shallow" lines, push certificates
		}
		out = append(out, RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
	}
	return out
}

func isHex(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// RefSHA returns the object a full ref name points at, "" when the ref
// does not exist.
func RefSHA(ctx context.Context, dir, ref string) (string, error) {
	if err := checkRef(ref); err != nil {
		return "", err
	}
	out, err := readInv(dir).run(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", ref)
	if err != nil {
		var ge *gitError
		if errors.As(err, &ge) && ctx.Err() == nil {
			return "", nil
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
