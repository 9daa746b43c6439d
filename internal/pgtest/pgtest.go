package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ecogate/ecogate/internal/testenv"
)

// Cluster is a running throwaway cluster.
type Cluster struct {
	// Port is the loopback TCP port.
	Port int
	// Bin is the folder of the PostgreSQL programs.
	Bin  string
	dir  string
	cred *syscall.Credential
}

var (
	mu      sync.Mutex
	cluster *Cluster
	failed  error
	dbSeq   atomic.Int64
)

// BinDir returns the folder holding initdb and pg_ctl, or "".
func BinDir() string {
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(ms, func(i, j int) bool { return version(ms[i]) > version(ms[j]) })
	if len(ms) > 0 {
		return filepath.Dir(ms[0])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p)
		}
	}
	return ""
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Need returns the running cluster, starting it on first use. It skips t
// (fails it under CI) when PostgreSQL is not installed, and fails t when
// the cluster does not start.
func Need(t testing.TB) *Cluster {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if cluster != nil {
		return cluster
	}
	if failed != nil {
		t.Fatalf("PostgreSQL test cluster: %v", failed)
	}
	bin := BinDir()
	if bin == "" {
		testenv.Missing(t, "PostgreSQL not installed: no initdb in /usr/lib/postgresql/*/bin or on PATH (apt-get install postgresql; .ci/run installs it)")
	}
	c, err := start(bin)
	if err != nil {
		failed = err
		t.Fatalf("PostgreSQL test cluster: %v", err)
	}
	cluster = c
	return c
}

// DSN creates a fresh, empty database for t on the cluster (started if
// needed) and returns its connection string (no password: trust auth).
func DSN(t testing.TB) string {
	t.Helper()
	c := Need(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	return c.URL(name)
}

// URL is the connection string of database db on the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://ecogate@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

func (c *Cluster) run(name string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.Bin, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(bin string) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "ecogate-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and there is no user postgres to run the cluster as (initdb refuses root): %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if err := c.run("initdb", "-D", data, "-U", "ecogate", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for try := 0; ; try++ {
		if c.Port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n", c.Port)
		if err = appendFile(filepath.Join(data, "postgresql.auto.conf"), conf); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		err = c.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start")
		if err == nil || try == 2 {
			break
		}
	}
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%v\n%s", err, log)
	}
	return c, nil
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Stop stops the cluster, if one was started, and removes its folder.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if cluster == nil {
		return
	}
	c := cluster
	cluster = nil
	if err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop"); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: stop:", err)
	}
	os.RemoveAll(c.dir)
}

// Main runs the tests of a package and stops the cluster after them: call
// it from TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Durable makes the test cluster commit as a production server does
// (fsync, synchronous_commit and full_page_writes on), for benchmarks that
// compare durable commits with bbolt's fsynced ones. It applies to the
// whole cluster until Stop, and returns once a new session sees it.
func Durable(t testing.TB) {
	t.Helper()
	c := Need(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatalf("connect to the test cluster: %v", err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{"ALTER SYSTEM SET fsync = on", "ALTER SYSTEM SET synchronous_commit = on",
		"ALTER SYSTEM SET full_page_writes = on", "SELECT pg_reload_conf()"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("pgtest: %s: %v", q, err)
		}
	}
	// The reload is asynchronous: new sessions see it once the postmaster
	// has read the file.
	for try := 0; ; try++ {
		c2, err := pgx.Connect(ctx, c.URL("postgres"))
		if err != nil {
			t.Fatalf("connect to the test cluster: %v", err)
		}
		var fsync, sync string
		err = c2.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &sync)
		c2.Close(ctx)
		if err == nil && fsync == "on" && sync == "on" {
			return
		}
		if try == 200 {
			t.Fatalf("pgtest: the cluster still runs with fsync=%s synchronous_commit=%s after reload (%v)", fsync, sync, err)
		}
	}
}
