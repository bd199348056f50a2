package migrate

import (
	"errors"
	"fmt"
	"math"
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

// Errors of Create.
var (
	// ErrInvalidName: a name that is not allowed.
	ErrInvalidName = errors.New("migration name")
	// ErrNameTaken: a migration in the directory has the name already
	// (also when another Create made it at the same moment: Creates in
	// one directory take turns, on Unix, so two at once with different
	// names get consecutive versions).
	ErrNameTaken = errors.New("migration name taken")
)

// Create writes an empty migration named after name into dir, numbered one
// above the highest version there and zero-padded to five digits like the
// others, and returns its path. name is lower-cased and spaces and dashes
// become underscores; anything else outside [a-z0-9_] is refused
// (ErrInvalidName), and so is a name a migration in dir already has
// (ErrNameTaken). A missing dir gives an error wrapping fs.ErrNotExist.
func Create(dir, name string) (string, error) {
	clean := strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(name)))
	// At least one letter or digit: "_" or "--" would name nothing.
	if !nameShape.MatchString(clean) || strings.Trim(clean, "_") == "" {
		return "", fmt.Errorf("%w %q: use 1 to 60 letters, digits, spaces, '-' or '_', with at least one letter or digit", ErrInvalidName, name)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return "", fmt.Errorf("read migrations directory: %w", err)
	}
	defer unlock()
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
			return "", &takenError{name: clean, by: filepath.Join(dir, e.Name())}
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err == nil && v > top {
			top = v
		}
	}
	if top == math.MaxInt64 {
		return "", fmt.Errorf("create migration: the highest version in %s is %d, and goose's versions go no higher", dir, top)
	}
	path := filepath.Join(dir, fmt.Sprintf("%05d_%s.sql", top+1, clean))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return "", &takenError{name: clean, by: path}
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

// takenError is ErrNameTaken with the file that has the name.
type takenError struct{ name, by string }

func (e *takenError) Error() string {
	return fmt.Sprintf("migration name %q is taken by %s", e.name, e.by)
}
func (e *takenError) Unwrap() error { return ErrNameTaken }

const template = `-- +goose Up
-- Write the change here. Each migration runs in its own transaction.

-- +goose Down
-- Undo it here, so that "folio migrate down" and "folio migrate redo" work.
`
