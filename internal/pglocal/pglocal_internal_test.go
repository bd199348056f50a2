package pglocal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// fakeBinDir creates dir holding empty executables with the given names.
func fakeBinDir(t *testing.T, dir string, names ...string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o755))
	}
	return dir
}

func TestFindBinDirNone(t *testing.T) {
	root := t.TempDir()
	emptyPath := fakeBinDir(t, filepath.Join(root, "bin"))
	_, err := findBinDir(emptyPath, filepath.Join(root, "lib", "postgresql"))
	require.ErrorIs(t, err, ErrNoServer)
	require.ErrorContains(t, err, "apt-get install postgresql")
	require.ErrorContains(t, err, "postgresql@16")
	require.ErrorContains(t, err, "DATABASE_URL")
}

func TestFindBinDirNewestVersion(t *testing.T) {
	root := t.TempDir()
	lib := filepath.Join(root, "lib", "postgresql")
	for _, v := range []string{"9.6", "15", "10"} {
		fakeBinDir(t, filepath.Join(lib, v, "bin"), "initdb", "postgres")
	}
	fakeBinDir(t, filepath.Join(lib, "16", "bin"), "psql")                   // client only
	fakeBinDir(t, filepath.Join(lib, "99beta", "bin"), "initdb", "postgres") // not a version

	got, err := findBinDir(fakeBinDir(t, filepath.Join(root, "path")), lib)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(lib, "15", "bin"), got)
}

func TestFindBinDirPrefersPath(t *testing.T) {
	root := t.TempDir()
	lib := filepath.Join(root, "lib", "postgresql")
	fakeBinDir(t, filepath.Join(lib, "15", "bin"), "initdb", "postgres")
	half := fakeBinDir(t, filepath.Join(root, "half"), "postgres")
	full := fakeBinDir(t, filepath.Join(root, "full"), "initdb", "postgres")
	fakeBinDir(t, filepath.Join(root, "rel"), "initdb", "postgres")
	t.Chdir(root)

	pathList := strings.Join([]string{"rel", half, full}, string(os.PathListSeparator))
	got, err := findBinDir(pathList, lib)
	require.NoError(t, err)
	require.Equal(t, full, got)
}

func TestFindBinDirPgConfig(t *testing.T) {
	root := t.TempDir()
	server := fakeBinDir(t, filepath.Join(root, "server"), "initdb", "postgres")
	path := fakeBinDir(t, filepath.Join(root, "path"))
	script := "#!/bin/sh\necho " + server + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(path, "pg_config"), []byte(script), 0o755))

	got, err := findBinDir(path, filepath.Join(root, "nolib"))
	require.NoError(t, err)
	require.Equal(t, server, got)
}

func TestSocketDirFor(t *testing.T) {
	t.Setenv("TMPDIR", "/var/tmp")
	require.Equal(t, "/srv/folio/data", socketDirFor("/srv/folio/data"))

	long := "/" + strings.Repeat("x", 90) + "/data"
	dir := socketDirFor(long)
	require.Regexp(t, `^/var/tmp/folio-[0-9a-f]{8}$`, dir)
	require.Equal(t, dir, socketDirFor(long), "deterministic")
	require.NotEqual(t, dir, socketDirFor(long+"2"))

	require.Regexp(t, `^/var/tmp/folio-[0-9a-f]{8}$`, socketDirFor("/srv/a,b"), "a comma would split the host list")

	t.Setenv("TMPDIR", "/"+strings.Repeat("t", 90))
	require.Regexp(t, `^/tmp/folio-[0-9a-f]{8}$`, socketDirFor(long))
}

func TestQuoteSocketDir(t *testing.T) {
	require.Equal(t, "/tmp/x", quoteSocketDir("/tmp/x"))
	require.Equal(t, `"/tmp/a b"`, quoteSocketDir("/tmp/a b"))
	require.Equal(t, `"/tmp/a""b"`, quoteSocketDir(`/tmp/a"b`))
}

func TestURLParses(t *testing.T) {
	s := &Server{socketDir: "/tmp/odd dir+&=%", port: 5432}
	url := s.URL("my db/+")
	require.True(t, strings.HasPrefix(url, "postgres://postgres@/my%20db%2F%2B?host=%2Ftmp%2Fodd%20dir%2B%26%3D%25&port=5432"), url)
	require.Contains(t, url, "sslmode=disable")

	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	require.Equal(t, "/tmp/odd dir+&=%", cfg.Host)
	require.Equal(t, uint16(5432), cfg.Port)
	require.Equal(t, "postgres", cfg.User)
	require.Equal(t, "my db/+", cfg.Database)
	require.Nil(t, cfg.TLSConfig)
	require.Empty(t, cfg.Fallbacks)

	poolCfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	require.Equal(t, "/tmp/odd dir+&=%", poolCfg.ConnConfig.Host)
}

func TestReadPidFile(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(s), 0o600))
	}

	_, err := readPidFile(dir)
	require.ErrorIs(t, err, os.ErrNotExist)

	write("4242\n/data\n1700000000\n5432\n")
	_, err = readPidFile(dir)
	require.ErrorIs(t, err, errPidFileIncomplete)

	write("4242\n/data\n1700000000\n5432\n\n")
	pf, err := readPidFile(dir)
	require.NoError(t, err)
	require.Equal(t, pidFile{pid: 4242, port: 5432, shmID: -1}, *pf)

	write("4242\n/data\n1700000000\n5432\n/tmp/s\n\n  5432001    131073\nready   \n")
	pf, err = readPidFile(dir)
	require.NoError(t, err)
	require.Equal(t, pidFile{pid: 4242, port: 5432, socketDir: "/tmp/s", shmKey: 5432001, shmID: 131073, status: pmStatusReady, hasStatus: true}, *pf)
}

func TestPingWithoutServer(t *testing.T) {
	s := &Server{socketDir: t.TempDir(), port: 5432}
	retry, err := ping(context.Background(), s.URL("postgres"))
	require.Error(t, err)
	require.True(t, retry)
	require.True(t, isNoListener(err), "%v", err)
	require.False(t, errors.Is(err, context.DeadlineExceeded))
}
