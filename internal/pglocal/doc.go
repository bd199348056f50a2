// Package pglocal runs a private PostgreSQL server from the server binaries
// installed on the machine (initdb and postgres). It is the database a
// program falls back to when the user has not configured one, and the
// throwaway server of test binaries.
//
// [Start] initialises the data directory on first use and starts postgres,
// or reuses the server another process already runs on that directory.
// [Server.URL] returns a connection string for pgx; [Server.Stop] says that
// this process has finished with the server, and stops it if this process
// started it, once no other process uses it.
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
// permissions of directories it did not create. Nor does it follow links
// there: a data directory (or its parent, for a kept server) that is a
// symbolic link is refused, and lock files and the server log are never
// opened through one, since what root gives the server user or creates
// through a link planted in a checkout or in the server user's data
// directory could be anywhere. initdb runs in a process group of its own,
// so that a cancelled Start can stop it and the server it runs.
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
// process that started the server (its owner) stops it.
//
// A server refuses new connections as soon as a shutdown begins, so the
// owner must not begin one while another process still uses the server:
// that process may still be connecting, or its pool may open a connection
// later. Every process using a non-ephemeral server therefore holds a
// shared flock on a second file, DataDir + ".users", from Start until its
// Stop (or its exit, which releases the lock too). The owner's Stop turns
// its own shared lock into an exclusive one, which it gets only once all
// the others have let go, and only then shuts the server down; when it has
// waited 3 seconds it logs a warning saying so. A cancelled ctx
// ends the wait, and the server is then shut down immediately, cutting off
// whoever still uses it. A Start arriving while the owner waits joins the
// server, so the owner waits for it too: a server in steady demand keeps
// running. A Start arriving once the owner holds the lock exclusively
// waits for the shutdown to finish, finds no server, and starts its own.
// The owner removes the file once its server has exited, so a stopped
// server leaves only DataDir + ".lock" beside its data directory.
//
// Locks are taken in that order, the users lock before the start lock, by
// Start and by the owner's Stop, which takes the start lock to remove a
// separate socket directory after the shutdown. Ephemeral servers take no
// users lock: their Stop does not wait for anyone.
//
// A process that means to use the server for long (a network service)
// sets Options.Own: Start then waits, holding no claim, for a server
// another process owns to be stopped, and starts one of its own, rather
// than join one that goes away with its owner.
//
// If the owner dies without calling Stop (a crash, SIGKILL), the kernel's
// parent-death signal shuts the server down fast (Linux only), so no server
// outlives its owner. If the server itself is killed outright, its
// postmaster.pid is left behind, and its children run on until they
// notice; the next Start waits (within StartTimeout) until none of them is
// attached to the dead server's shared memory, which postgres requires,
// and starts a new server (Linux only: elsewhere postgres refuses, and
// says why).
package pglocal
