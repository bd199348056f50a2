// Package pglocal runs a private PostgreSQL server from the server binaries
// installed on the machine (initdb and postgres). It is the database a
// program falls back to when the user has not configured one, and the
// throwaway server of test binaries.
//
// [Start] initialises the data directory on first use and starts postgres,
// or reuses the server another process already runs on that directory.
// [Server.URL] returns a connection string for pgx; [Server.Stop] stops the
// server if this process started it.
//
// # Unix socket only
//
// The server is started with an empty listen_addresses, so it opens no TCP
// port: it cannot collide with another server listening on 5432, and
// nothing on the network can reach it. The cluster uses trust authentication; what
// protects it is the mode (0700) of the directory holding the socket, so
// only the owner of the data directory, and root, can connect. The port
// (always 5432) merely names the socket file, .s.PGSQL.5432.
//
// # Socket path length
//
// A Unix socket path must fit in sockaddr_un.sun_path: 108 bytes on Linux,
// 104 on macOS, including the terminating NUL. postgres refuses to start
// when the socket path is longer, and deep data directories, such as those
// of t.TempDir, easily exceed that. The socket therefore goes into the data
// directory only when the data directory's path is short (at most 100 bytes
// including "/.s.PGSQL.5432.lock"); otherwise it goes into
// $TMPDIR/folio-<hash> (or /tmp/folio-<hash>), where <hash> is derived from
// the data directory's path so that every process sharing a data directory
// computes the same directory.
//
// # Running as root
//
// initdb and postgres refuse to run as root. When the calling process is
// root, pglocal runs them as the "postgres" system user that PostgreSQL
// packages create, hands that user the data and socket directories, and
// first checks that the user can reach the data directory at all: otherwise
// the data directory under /root, the usual case, fails with an obscure
// "permission denied" from deep inside initdb. pglocal never changes the
// permissions of directories it did not create.
//
// # Process group
//
// postgres is started directly, not through pg_ctl, so that pglocal is its
// parent: it learns at once when the server exits, for instance when
// startup fails, and can wait for the exit in Stop. The server gets its own
// process group, so the SIGINT a terminal sends to the foreground process
// group on Ctrl-C does not reach it; the program decides how the server
// stops, and a smart shutdown lets other processes sharing the server
// finish their work.
//
// # Sharing a data directory
//
// Several processes may use one data directory at the same time. Start
// serialises initdb and server startup with an flock on a file next to the
// data directory (DataDir + ".lock"; initdb needs the data directory itself
// empty), and reuses a server that postmaster.pid shows running. Only the
// process that started the server stops it. If that process dies without
// calling Stop (a crash, SIGKILL), the kernel's parent-death signal shuts
// the server down fast (Linux only), so no server outlives its owner.
package pglocal
