package migrate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var (
	versionPrefix = regexp.MustCompile(`^(\d+)_(.*)\.sql$`)
	nameShape     = regexp.MustCompile(`^[a-z0-9_]{1,60}$`)
)

// ErrInvalidName is returned by Create for a name it cannot use.
var ErrInvalidName = errors.New("migration name")

// Create writes an empty migration named after name into dir, numbered one
// above the highest version there and zero-padded to five digits like the
// others, and returns its path. name is lower-cased and spaces and dashes
// become underscores; anything else outside [a-z0-9_] is refused, and so is
// a name a migration in dir already has.
func Create(dir, name string) (string, error) {
	clean := strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(name)))
	if !nameShape.MatchString(clean) {
		return "", fmt.Errorf("%w %q: use 1 to 60 letters, digits, spaces, '-' or '_'", ErrInvalidName, name)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read migrations directory: %w", err)
	}
	var top int64
	for _, e := range entries {
		m := versionPrefix.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if m[2] == clean {
			return "", fmt.Errorf("%w %q is taken by %s", ErrInvalidName, clean, filepath.Join(dir, e.Name()))
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err == nil && v > top {
			top = v
		}
	}
	path := filepath.Join(dir, fmt.Sprintf("%05d_%s.sql", top+1, clean))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("migration %s already exists", path)
	}
	if err != nil {
		return "", fmt.Errorf("create migration: %w", err)
	}
	_, err = f.WriteString(template)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Leave no half-written file to be taken for a migration.
		_ = os.Remove(path)
		return "", fmt.Errorf("write migration: %w", err)
	}
	return path, nil
}

const template = `-- +goose Up
-- Write the change here. Each migration runs in its own transaction.

-- +goose Down
-- Undo it here, so that "app migrate down" and "app migrate redo" work.
`
