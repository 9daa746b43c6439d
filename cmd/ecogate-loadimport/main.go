package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ecogate/ecogate/internal/devsite"
	"github.com/ecogate/ecogate/store"
	bolt "go.etcd.io/bbolt"
)

const fixture = "mapping/testdata/india-ecoo/aifta-issued.json"

func main() {
	bin := flag.String("ecogate", "", "the ecogate binary to measure (required)")
	n := flag.Int("n", 100000, "number of records")
	dir := flag.String("dir", "", "work directory (default: a new one in $TMPDIR)")
	keep := flag.Bool("keep", false, "keep the work directory")
	workers := flag.Int("workers", 0, "import --workers (0: the command's default)")
	sign := flag.Bool("sign", false, "import --sign")
	pgDSN := flag.String("postgres", "", "import into this PostgreSQL database (`DSN`, without password) instead of a bbolt data file")
	flag.Parse()
	if *bin == "" || *n <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "ecogate-loadimport-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	if !*keep {
		defer os.RemoveAll(*dir)
	}
	site := devsite.Site{Country: "IN", Name: "India (import load)", PartnerAddr: "127.0.0.1:1", LocalAddr: "127.0.0.1:2", Dir: filepath.Join(*dir, "site")}
	if err := devsite.Write([]devsite.Site{site}, devsite.Retry{Attempts: 1, InitialInterval: time.Second, MaxInterval: time.Second, MaxAge: time.Hour}); err != nil {
		log.Fatal(err)
	}
	if *pgDSN != "" {
		if err := store.CheckDSN(*pgDSN); err != nil {
			log.Fatalf("-postgres: %v", err)
		}
		f, err := os.OpenFile(site.ConfigPath(), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			log.Fatal(err)
		}
		q, _ := json.Marshal(*pgDSN) // a YAML double-quoted string
		_, err = fmt.Fprintf(f, "\nstore:\n  engine: postgres\n  dsn: %s\n  migrate: true\n", q)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	src := filepath.Join(*dir, "legacy.ndjson")
	t0 := time.Now()
	if err := writeRecords(src, *n); err != nil {
		log.Fatal(err)
	}
	st, _ := os.Stat(src)
	fmt.Printf("generated %d records (%.2f GB) in %s\n", *n, float64(st.Size())/1e9, time.Since(t0).Round(time.Millisecond))

	args := []string{"import", "--config", site.ConfigPath(), "--profile", "india-ecoo", "--source", src,
		"--report", filepath.Join(*dir, "failures.jsonl"), "--quiet"}
	if *workers > 0 {
		args = append(args, "--workers", fmt.Sprint(*workers))
	}
	if *sign {
		args = append(args, "--sign")
	}
	cmd := exec.Command(*bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	load0 := loadavg()
	t1 := time.Now()
	err := cmd.Run()
	wall := time.Since(t1)
	if err != nil {
		log.Fatalf("ecogate import: %v", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	user := time.Duration(ru.Utime.Nano())
	sys := time.Duration(ru.Stime.Nano())
	size := dataSize(filepath.Join(site.Dir, "data", "ecogate.db"), *pgDSN)
	fmt.Printf("records        %d\n", *n)
	fmt.Printf("wall time      %s\n", wall.Round(100*time.Millisecond))
	fmt.Printf("records/s      %.0f\n", float64(*n)/wall.Seconds())
	fmt.Printf("CPU            user %s + sys %s (%.3f ms per record, %.2f cores)\n", user.Round(100*time.Millisecond), sys.Round(100*time.Millisecond),
		float64((user+sys).Microseconds())/1000/float64(*n), (user+sys).Seconds()/wall.Seconds())
	fmt.Printf("max RSS        %d MiB\n", ru.Maxrss/1024)
	what := "data file     "
	if *pgDSN != "" {
		what = "database      "
	}
	fmt.Printf("%s %.2f GB (%.1f KB per record)\n", what, float64(size)/1e9, float64(size)/1e3/float64(*n))
	fmt.Printf("load average   %s at the start, %s at the end\n", load0, loadavg())
	if *pgDSN == "" {
		if err := bucketSizes(filepath.Join(site.Dir, "data", "ecogate.db"), *n); err != nil {
			log.Fatal(err)
		}
	}
}

// bucketSizes prints, for each bucket of the data file, its keys and the
// bytes of the pages it occupies (per record).
func bucketSizes(path string, n int) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		fmt.Printf("%-14s %10s %12s %10s\n", "bucket", "keys", "page bytes", "per record")
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			s := b.Stats()
			alloc := s.BranchAlloc + s.LeafAlloc
			if alloc == 0 && s.KeyN == 0 {
				return nil
			}
			fmt.Printf("%-14s %10d %12d %10.0f\n", name, s.KeyN, alloc, float64(alloc)/float64(n))
			return nil
		})
	})
}

// dataSize is the bbolt data file's size, or the PostgreSQL database's
// (pg_database_size) when dsn is set.
func dataSize(file, dsn string) int64 {
	if dsn == "" {
		st, err := os.Stat(file)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		log.Printf("database size: %v", err)
		return 0
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		log.Printf("database size: %v", err)
	}
	return n
}

// writeRecords writes n NDJSON records made from the fixture.
func writeRecords(path string, n int) error {
	raw, err := os.ReadFile(fixture)
	if err != nil {
		return fmt.Errorf("%w (run from the repository root)", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return err
	}
	line := buf.String()
	const num, ref = `"AI-MUM-2026-0004711"`, `"EIC/MUM/2026/A/004711"`
	if !strings.Contains(line, num) || !strings.Contains(line, ref) {
		return fmt.Errorf("%s changed: its certificate number %s or reference %s is gone", fixture, num, ref)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 1; i <= n; i++ {
		l := strings.Replace(line, num, fmt.Sprintf(`"AI-MUM-2026-%07d"`, i), 1)
		l = strings.Replace(l, ref, fmt.Sprintf(`"EIC/MUM/2026/A/%07d"`, i), 1)
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
