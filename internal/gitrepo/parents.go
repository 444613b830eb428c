package gitrepo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Parents returns the commit graph reachable from heads but not from
// exclude (all of history when exclude is ""), as each commit's parents,
// in one git run: at most max commits. Heads and exclude must be full
// commit IDs; ones the repository lacks are ignored. Callers walk the
// graph themselves (DORA's commits new with each release).
func Parents(ctx context.Context, mirrorDir string, heads []string, exclude string, max int) (map[string][]string, error) {
	args := []string{"rev-list", "--parents", "--ignore-missing", "--max-count=" + strconv.Itoa(max), "--end-of-options"}
	for _, h := range heads {
		if !fullSHA(h) {
			return nil, fmt.Errorf("gitrepo: parents: %q is not a full commit ID", h)
		}
		args = append(args, h)
	}
	if exclude != "" {
		if !fullSHA(exclude) {
			return nil, fmt.Errorf("gitrepo: parents: %q is not a full commit ID", exclude)
		}
		args = append(args, "^"+exclude)
	}
	out, err := readInv(mirrorDir).run(ctx, append(args, "--")...)
	if err != nil {
		return nil, fmt.Errorf("gitrepo: parents: %w", err)
	}
	graph := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			graph[f[0]] = f[1:]
		}
	}
	return graph, nil
}

func fullSHA(s string) bool {
	return (len(s) == 40 || len(s) == 64) && hexRE.MatchString(s)
}
