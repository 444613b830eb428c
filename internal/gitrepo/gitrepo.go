// Package gitrepo owns everything Slipway does with Git repositories: it
// validates repository URLs, lists a remote's branches and tags, keeps a bare
// mirror per repository up to date, and reads commits, files and whole trees
// out of that mirror. It drives the real git CLI with a clean environment
// (no user or system config, no prompts, only the transport the URL names)
// and turns git's failures into errors with a message fit for the user.
package gitrepo

import (
	"errors"
	"time"
)

// Sentinel errors. Remote failures are reported as *Error values that match
// one of the first three with errors.Is.
var (
	// ErrInvalidURL means the repository URL was rejected before git ran.
	ErrInvalidURL = errors.New("invalid repository URL")
	// ErrNotReachable means the repository does not exist or could not be
	// contacted (DNS, connection, missing path, not a git repository).
	ErrNotReachable = errors.New("repository not found or not reachable")
	// ErrAuthRefused means the server refused the credentials (or asked for
	// some where none were given).
	ErrAuthRefused = errors.New("authentication refused")
	// ErrUnknownRef means a branch, tag or commit SHA is not in the mirror.
	ErrUnknownRef = errors.New("unknown ref")
	// ErrNotExist means a file is not present at the given commit.
	ErrNotExist = errors.New("file does not exist")
	// ErrIsFolder means a path asked for as a file names a folder. Errors
	// that wrap it also match ErrNotExist: there is no file by that name.
	ErrIsFolder = errors.New("is a folder")
	// ErrNotMirror means a mirror directory exists but is not a bare
	// repository made by this package.
	ErrNotMirror = errors.New("not a git mirror")
)

// Error pairs a message that is safe to show the user (credentials
// redacted) with the hidden cause, which carries git's full stderr for logs.
type Error struct {
	// Kind is ErrInvalidURL, ErrNotReachable or ErrAuthRefused.
	Kind error
	// Msg is the user-facing message, e.g.
	// "authentication refused: https://***@example.com/app.git: Authentication failed".
	Msg string
	// Err is the underlying cause; it may be nil.
	Err error
}

// Error returns the user-facing message with the package prefix.
func (e *Error) Error() string { return "gitrepo: " + e.Msg }

// Unwrap exposes both the kind (for errors.Is against the sentinels) and the
// cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Remote is a repository as the user linked it.
type Remote struct {
	// URL is the clone URL; see ValidateURL for what is accepted.
	URL string
	// SSHKey is an optional private deploy key (OpenSSH or PEM format) used
	// for ssh URLs. It is written to a 0600 temporary file for the duration
	// of one git command and removed afterwards.
	SSHKey []byte
	// KnownHostsFile is the known_hosts file ssh pins host keys in
	// (StrictHostKeyChecking=accept-new: the first key seen is recorded,
	// a changed key is refused). Empty means ssh's default for the user
	// the portal runs as.
	KnownHostsFile string
	// AllowHTTP permits plain http:// to hosts other than loopback. Off by
	// default: plain HTTP exposes credentials and lets anyone on the path
	// change the code that gets built and deployed.
	AllowHTTP bool
	// Network says which addresses git may connect to; the zero value
	// allows public addresses only. Every address the host resolves to is
	// checked right before git runs, and git is pinned to them.
	Network Network
	// Resolve looks up host names; nil means the system resolver.
	Resolve Resolver
}

// Refs is what a remote advertises.
type Refs struct {
	// Head is the default branch (e.g. "main"), empty when the remote does
	// not say (empty repository, or a server without symref support).
	Head string
	// Branches maps a branch name (without refs/heads/) to its commit SHA.
	Branches map[string]string
	// Tags maps a tag name (without refs/tags/) to the commit it points at
	// (annotated tags are peeled to their commit).
	Tags map[string]string
}

// Commit describes one commit.
type Commit struct {
	SHA         string
	AuthorName  string
	AuthorEmail string
	Subject     string
	// Time is the author date.
	Time time.Time
}

// folderError reports that name is a folder where a file was asked for.
// It matches ErrIsFolder and ErrNotExist, so callers that only want files
// keep treating it as a missing file.
type folderError struct{ name string }

func (e *folderError) Error() string {
	return "gitrepo: " + e.name + " is a folder, not a file"
}

// Is reports whether target is ErrIsFolder or ErrNotExist.
func (e *folderError) Is(target error) bool { return target == ErrIsFolder || target == ErrNotExist }
