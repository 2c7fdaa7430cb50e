// Package pgtest gives tests a PostgreSQL database: the server named by
// $ROTOR_TEST_POSTGRES, or else a throwaway server started from the
// installed PostgreSQL binaries (Debian's /usr/lib/postgresql/*/bin) with
// its data in a temporary directory, listening on a loopback port. When
// neither is possible the test is skipped, loudly.
//
// Each DSN call gets a fresh, empty schema (dropped when the test ends) on
// that server, so tests do not see each other's tables.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// EnvDSN names the variable holding an existing server's DSN. Its user
// must be allowed to create schemas in the database.
const EnvDSN = "ROTOR_TEST_POSTGRES"

var (
	mainActive bool // Main is running the tests: share one server

	sharedOnce sync.Once
	shared     *Server
	sharedErr  error

	loudOnce sync.Once
	schemaN  atomic.Int64
)

// Main runs a package's tests with one throwaway server shared by all of
// them, stopped when they end. Use it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without it, each test that asks starts (and stops) a server of its own.
func Main(m *testing.M) {
	mainActive = true
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

// DSN returns the URL of a fresh schema on a test server (search_path
// points at it), dropped when t ends. It skips t when no server can be had.
func DSN(t testing.TB) string {
	t.Helper()
	base := serverDSN(t)
	schema := fmt.Sprintf("rotor_test_%d_%d", os.Getpid(), schemaN.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// serverDSN is the server's own DSN: from the environment, the shared
// server, or a server started for t.
func serverDSN(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	if mainActive {
		sharedOnce.Do(func() { shared, sharedErr = Start() })
		if sharedErr != nil {
			skip(t, sharedErr)
		}
		return shared.DSN
	}
	srv, err := Start()
	if err != nil {
		skip(t, err)
	}
	t.Cleanup(srv.Stop)
	return srv.DSN
}

func skip(t testing.TB, err error) {
	t.Helper()
	loudOnce.Do(func() {
		// Every line starts with SKIP: so that 'go test -v ./... | grep SKIP:'
		// (as the README says) lists it with the other skips.
		fmt.Fprintf(os.Stderr, "\nSKIP: !!! PostgreSQL tests SKIPPED: $%s is not set and no throwaway server could be started: %v\nSKIP: !!! Install PostgreSQL (apt-get install postgresql) or set $%s.\n\n", EnvDSN, err, EnvDSN)
	})
	t.Skipf("SKIP: PostgreSQL unavailable: %v", err)
}

// Server is a throwaway PostgreSQL server.
type Server struct {
	DSN   string // superuser, database postgres, on 127.0.0.1
	dir   string
	pgctl string
	as    []string // command prefix that runs as the server's user
}

// Start initialises and starts a server with trust authentication on a
// free loopback port. As root it runs the server as the postgres user,
// since initdb refuses root.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	var as []string
	var owner *user.User
	if os.Geteuid() == 0 {
		if owner, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			return nil, fmt.Errorf("running as root and runuser is missing: %w", err)
		}
		as = []string{runuser, "-u", "postgres", "--"}
	}
	dir, err := os.MkdirTemp("", "rotor-pgtest-")
	if err != nil {
		return nil, err
	}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	s := &Server{dir: dir, pgctl: filepath.Join(bin, "pg_ctl"), as: as}
	data := filepath.Join(dir, "data")
	if out, err := s.run(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	// A port found free may be taken before the server binds it: try again.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
		out, err := s.run(s.pgctl, "-D", data, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
		}
	}
	return s, nil
}

// Stop stops the server at once and removes its files.
func (s *Server) Stop() {
	s.run(s.pgctl, "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
	os.RemoveAll(s.dir)
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	argv := append(slices.Clone(s.as), name)
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// findBin finds the newest installed server's bin directory, or initdb on
// PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binaries (initdb) in /usr/lib/postgresql/*/bin or on PATH")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(strings.Split(filepath.Base(filepath.Dir(binDir)), ".")[0])
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
