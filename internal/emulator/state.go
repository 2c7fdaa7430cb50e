package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFormat is the version of the state file's shape.
const stateFormat = 1

// stateFile is both emulators' state. It holds token values and app private
// keys in the clear, like the services it stands in for: it is written 0600
// and must never be committed.
type stateFile struct {
	Format       int             `json:"format"`
	GitHub       json.RawMessage `json:"github"`
	CodePipeline json.RawMessage `json:"codepipeline"`
	AWS          json.RawMessage `json:"aws,omitempty"`             // STS sessions
	Connections  json.RawMessage `json:"codeconnections,omitempty"` // connections, the connector app's key
}

// readState reads a state file; a missing file is (nil, nil).
func readState(path string) (*stateFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("state %s: format %d, want %d", path, st.Format, stateFormat)
	}
	return &st, nil
}

// removeStaleTemps deletes temporary files a crash left beside the state
// file (writeFileAtomic's, which are never the state itself).
func removeStaleTemps(path string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	for _, f := range stale {
		_ = os.Remove(f)
	}
}

// writeFileAtomic replaces path with data so that a crash at any moment
// leaves either the old file or the new one, never a part: a temporary file
// in the same directory, written, synced and renamed over path, then the
// directory synced. The file is 0600.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("state: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("state: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("state: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: makes the rename itself durable
		d.Close()
	}
	return nil
}
