package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/slipway-ci/slipway/internal/deploy"
)

// stateFile is what the edge writes after every change: the desired state
// of each environment and the processes that run it, so that a restarted
// or upgraded edge re-adopts them. It holds the apps' variables (secrets
// among them): it is written 0600 in the data dir's run/ (0700).
type stateFile struct {
	Envs map[string]*envRecord `json:"envs"`
}

type envRecord struct {
	Desired Desired `json:"desired"`
	// Bound is the address the edge listens on (it stays the same across
	// restarts even when Desired.EdgeAddr asks for any port).
	Bound string `json:"bound,omitempty"`
	// Pools maps a release to the processes of its instances.
	Pools map[int64][]deploy.ProcessInfo `json:"pools,omitempty"`
	// Serving is the release whose pool the edge served.
	Serving int64 `json:"serving,omitempty"`
	// Processes is the one process per release that an edge of one
	// instance per environment recorded; it is read, never written.
	Processes map[int64]deploy.ProcessInfo `json:"processes,omitempty"`
}

// pools returns the recorded processes of each release.
func (r *envRecord) pools() map[int64][]deploy.ProcessInfo {
	if len(r.Pools) > 0 || len(r.Processes) == 0 {
		return r.Pools
	}
	out := map[int64][]deploy.ProcessInfo{}
	for rel, pi := range r.Processes {
		pi.Slot = 1
		out[rel] = []deploy.ProcessInfo{pi}
	}
	return out
}

// serving returns the release that served.
func (r *envRecord) serving() int64 {
	if r.Serving == 0 && len(r.Pools) == 0 {
		return r.Desired.Live
	}
	return r.Serving
}

// release returns how to run rel, from the desired state.
func (r *envRecord) release(rel int64) (Release, bool) {
	for _, x := range slices.Concat(r.Desired.Releases, r.Desired.Warm) {
		if x.ID == rel {
			return x, true
		}
	}
	return Release{}, false
}

// writeFileAtomic replaces path with data so that a crash at any moment
// leaves either the old or the new content, never a torn file: write a
// temporary file in the same directory, fsync it, rename it over path,
// fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (*stateFile, error) {
	st := &stateFile{Envs: map[string]*envRecord{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("edge: read state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("edge: state file %s is not valid JSON (%w); move it away to start empty", path, err)
	}
	if st.Envs == nil {
		st.Envs = map[string]*envRecord{}
	}
	return st, nil
}
