package pages

// IDEPage is the web IDE of one project at one branch.
type IDEPage struct {
	CSRF    string
	Slug    string
	Name    string
	Hosted  bool
	Branch  string
	Default string
	// BaseSHA is the commit the branch is at; "" for an empty repository.
	BaseSHA  string
	Branches []string
	// Path is the file opened by ?path=, "" for none.
	Path string
	// Crumbs are the folders of Path, then Path's name.
	Crumbs []IDECrumb
	// Root is the root folder's entries.
	Root []IDEEntry
	// CanCommit says the user may commit and the repository takes commits;
	// ReadOnlyReason says why not otherwise.
	CanCommit      bool
	ReadOnlyReason string
	// Empty marks a repository without commits (or without the branch).
	Empty bool
	// ScriptURL is the IDE bundle (an ES module); only this page loads it.
	ScriptURL string
	// DevEnv names the environment that auto-deploys the branch, if any.
	DevEnv string
	// Problem says what is wrong with the address (?ref= or ?path=), or "".
	Problem string
}

// IDECrumb is one step of the breadcrumbs.
type IDECrumb struct {
	Name, Path string
}

// IDEEntry is one row of the file tree.
type IDEEntry struct {
	Name    string
	Path    string
	Dir     bool
	Symlink bool
	// Submodule entries are shown, never opened.
	Submodule bool
}

// IDETree is one lazily loaded folder of the tree.
type IDETree struct {
	Slug    string
	Branch  string
	Entries []IDEEntry
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
