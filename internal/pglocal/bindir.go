package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoServer reports that no PostgreSQL server binaries were found. Errors
// returned by [FindBinDir] and [Start] wrap it; test with errors.Is.
var ErrNoServer = errors.New("PostgreSQL server binaries (initdb, postgres) not found; " +
	"install them (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; " +
	"macOS: brew install postgresql@16) or set DATABASE_URL to use an existing PostgreSQL server")

// debianLibDir holds one directory per major version on Debian and Ubuntu,
// e.g. /usr/lib/postgresql/15/bin. It is not on $PATH there.
const debianLibDir = "/usr/lib/postgresql"

// FindBinDir returns the directory holding the initdb and postgres
// programs. It looks in this order: the directories of $PATH (the first one
// holding both programs), the directory printed by `pg_config --bindir`,
// and the newest /usr/lib/postgresql/<version>/bin (versions compared
// numerically, so 9.6 < 10 < 15). When none holds both programs it returns
// an error wrapping [ErrNoServer].
func FindBinDir() (string, error) {
	return findBinDir(os.Getenv("PATH"), debianLibDir)
}

// findBinDir implements FindBinDir with the search path and the Debian
// library directory as parameters, for tests.
func findBinDir(pathList, libDir string) (string, error) {
	for _, dir := range filepath.SplitList(pathList) {
		// Like exec.LookPath, ignore relative entries ("" means "."): a
		// server binary picked up from the current directory would be a
		// surprise at best.
		if filepath.IsAbs(dir) && hasServerBinaries(dir) {
			return dir, nil
		}
	}
	if dir, ok := pgConfigBinDir(pathList); ok {
		return dir, nil
	}
	if dir, ok := newestVersionBinDir(libDir); ok {
		return dir, nil
	}
	return "", fmt.Errorf("pglocal: searched $PATH, `pg_config --bindir` and %s/*/bin: %w", libDir, ErrNoServer)
}

// hasServerBinaries reports whether dir holds executable initdb and
// postgres files.
func hasServerBinaries(dir string) bool {
	return isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres"))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// pgConfigBinDir asks the first pg_config found on pathList for its bindir.
// Client-only installations have a pg_config too, so the answer counts only
// if the server binaries are there.
func pgConfigBinDir(pathList string) (string, bool) {
	for _, dir := range filepath.SplitList(pathList) {
		pgConfig := filepath.Join(dir, "pg_config")
		if !filepath.IsAbs(dir) || !isExecutable(pgConfig) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
		cancel()
		if err != nil {
			return "", false
		}
		bin := strings.TrimSpace(string(out))
		if filepath.IsAbs(bin) && hasServerBinaries(bin) {
			return bin, true
		}
		return "", false
	}
	return "", false
}

// newestVersionBinDir returns libDir/<version>/bin for the highest version
// whose bin directory holds the server binaries. Entries whose name is not
// a dotted number are ignored.
func newestVersionBinDir(libDir string) (string, bool) {
	entries, err := os.ReadDir(libDir)
	if err != nil {
		return "", false
	}
	var best []int
	bestDir := ""
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		if !ok {
			continue
		}
		bin := filepath.Join(libDir, e.Name(), "bin")
		if !hasServerBinaries(bin) {
			continue
		}
		if bestDir == "" || slices.Compare(v, best) > 0 {
			best, bestDir = v, bin
		}
	}
	return bestDir, bestDir != ""
}

// parseVersion parses "15" or "9.6" into its numeric components.
func parseVersion(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	v := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		v[i] = n
	}
	return v, true
}
