package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/rotor-ci/rotor/internal/secretfile"
)

// SpecPrefix introduces a key file in a key spec: "file:rotor.key".
const SpecPrefix = "file:"

// ErrKeyExists is returned by Generate when the key file is already there:
// replacing a key would make every sealed version unreadable.
var ErrKeyExists = errors.New("key file already exists")

// Generate writes a new age X25519 identity to path with mode 0600. The file
// appears complete or not at all, and an existing file is never replaced.
func Generate(path string) error {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# created: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# public key: %s\n", id.Recipient())
	fmt.Fprintf(&b, "%s\n", id)

	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("generate key %s: %w", path, ErrKeyExists)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("generate key %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; say so explicitly in case that changes.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("generate key %s: %w", path, err)
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("generate key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("generate key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("generate key %s: %w", path, err)
	}
	// A hard link, unlike rename, fails when path exists: two `rotor init`
	// racing cannot overwrite each other's key.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("generate key %s: %w", path, ErrKeyExists)
		}
		return fmt.Errorf("generate key %s: %w", path, err)
	}
	return nil
}

// keyPath turns a key spec into a file path; relative paths are relative to
// configDir (the directory of rotor.yaml), not the working directory.
func keyPath(spec, configDir string) (string, error) {
	path, ok := strings.CutPrefix(spec, SpecPrefix)
	if !ok || path == "" {
		return "", fmt.Errorf("key spec %q: want %sPATH (an age identity file)", spec, SpecPrefix)
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(configDir, path)
	}
	return path, nil
}

// readIdentity loads the one identity of a key file after checking that
// nobody but its owner can read it.
func readIdentity(path string) (age.Identity, age.Recipient, error) {
	raw, err := secretfile.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("key file %s does not exist (`rotor init` creates one)", path)
	case err != nil:
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	defer clear(raw)
	// age's parse errors never quote the key line.
	ids, err := age.ParseIdentities(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("key file %s is malformed: %v", path, err)
	}
	if len(ids) != 1 {
		return nil, nil, fmt.Errorf("key file %s is malformed: it holds %d identities, want 1", path, len(ids))
	}
	switch id := ids[0].(type) {
	case *age.X25519Identity:
		return id, id.Recipient(), nil
	case *age.HybridIdentity:
		return id, id.Recipient(), nil
	default:
		return nil, nil, fmt.Errorf("key file %s is malformed: unsupported identity type %T", path, id)
	}
}
