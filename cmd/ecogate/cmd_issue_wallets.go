package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ecogate/ecogate/internal/strictjson"
	"github.com/ecogate/ecogate/issuance"
	issapi "github.com/ecogate/ecogate/issuance/api"
)

const importWalletsUsage = `usage: ecogate issue [--config FILE | --node URL] import-wallets [--report FILE] [--checkpoint FILE] [--batch N] FILE

Migrate the legacy platform's e-wallet balances: one opening balance per
exporter IEC and office, each written as one ledger entry "migrated opening
balance (REF)" by the node operator (the local token). FILE is CSV with the
header iec,office,amount[,ref] (amount in minor units, e.g. paise) or JSON
lines {"iec":...,"office":...,"amount":...,"ref":...} (.jsonl/.ndjson).

Run it again after an interruption: it resumes after the checkpoint
(default FILE.checkpoint), and a balance already migrated is recognised
(same amount: "already", nothing written; another amount: a conflict in the
report, never migrated twice). Unknown IECs or offices, offices without
e-wallet and malformed records go to the failure report (default
wallet-import-failures.jsonl, one JSON object per failed record) and do not
stop the rest. Exit status 0 when every balance is migrated, 1 when some
failed, 2 on a usage error or when the node cannot be reached.
`

// walletRecord is one balance of the source with its 1-based record number.
type walletRecord struct {
	n int
	b issuance.MigratedBalance
	// bad is why the record could not be read (it goes to the report).
	bad string
}

// readWalletFile reads every record of a CSV or JSON-lines file.
func readWalletFile(path string) ([]walletRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []walletRecord
	if strings.HasSuffix(path, ".jsonl") || strings.HasSuffix(path, ".ndjson") {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		n := 0
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			n++
			r := walletRecord{n: n}
			if err := strictjson.Unmarshal([]byte(line), &r.b); err != nil {
				r.bad = err.Error()
			}
			out = append(out, r)
		}
		return out, sc.Err()
	}
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: no header line iec,office,amount[,ref]: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	for _, k := range []string{"iec", "office", "amount"} {
		if _, ok := col[k]; !ok {
			return nil, fmt.Errorf("%s: the header %q lacks the column %q (want iec,office,amount[,ref])", path, strings.Join(head, ","), k)
		}
	}
	get := func(rec []string, k string) string {
		if i, ok := col[k]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		r := walletRecord{n: n}
		if err != nil {
			r.bad = err.Error()
			out = append(out, r)
			continue
		}
		r.b = issuance.MigratedBalance{IEC: get(rec, "iec"), Office: get(rec, "office"), Ref: get(rec, "ref")}
		amt, err := strconv.ParseInt(get(rec, "amount"), 10, 64)
		if err != nil {
			r.bad = fmt.Sprintf("amount %q is not an integer (minor units, e.g. paise)", get(rec, "amount"))
		}
		r.b.Amount = amt
		out = append(out, r)
	}
}

func runImportWallets(ctx context.Context, tg target, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate issue import-wallets", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importWalletsUsage) }
	report := fs.String("report", "wallet-import-failures.jsonl", "the failure report `FILE`")
	checkpoint := fs.String("checkpoint", "", "where progress is kept (default FILE.checkpoint)")
	batch := fs.Int("batch", 500, "balances per request (at most 1000)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 || *batch < 1 || *batch > 1000 {
		fs.Usage()
		return exitUsage
	}
	src := fs.Arg(0)
	if *checkpoint == "" {
		*checkpoint = src + ".checkpoint"
	}
	recs, err := readWalletFile(src)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate issue import-wallets: %v\n", err)
		return exitUsage
	}
	done := 0
	if b, err := os.ReadFile(*checkpoint); err == nil {
		if done, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil || done < 0 {
			fmt.Fprintf(stderr, "ecogate issue import-wallets: the checkpoint %s is not a record count; delete it to start over\n", *checkpoint)
			return exitUsage
		}
		if done > 0 {
			fmt.Fprintf(stdout, "resuming after record %d (checkpoint %s)\n", done, *checkpoint)
		}
	}
	rep, err := os.OpenFile(*report, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(stderr, "ecogate issue import-wallets: report: %v\n", err)
		return exitUsage
	}
	defer rep.Close()
	enc := json.NewEncoder(rep)
	type failure struct {
		Source string `json:"source"`
		Record int    `json:"record"`
		IEC    string `json:"iec,omitempty"`
		Office string `json:"office,omitempty"`
		Amount int64  `json:"amount"`
		Code   string `json:"code"`
		Error  string `json:"error"`
	}
	counts := map[string]int{}
	for i := 0; i < len(recs); {
		if i < done {
			i = done
			continue
		}
		end := min(i+*batch, len(recs))
		var send []walletRecord
		for _, r := range recs[i:end] {
			if r.bad != "" {
				counts["failed"]++
				_ = enc.Encode(failure{Source: src, Record: r.n, IEC: r.b.IEC, Office: r.b.Office, Amount: r.b.Amount, Code: "invalid", Error: r.bad})
				continue
			}
			send = append(send, r)
		}
		if len(send) > 0 {
			req := issapi.MigrateRequest{}
			for _, r := range send {
				req.Balances = append(req.Balances, r.b)
			}
			raw, _ := json.Marshal(req)
			var ans struct {
				Results []issapi.MigrateResult `json:"results"`
			}
			if rc := localAPIBody(ctx, tg, "POST", "/api/v1/issuance/wallets/migrate", raw, &ans, stderr, "issue import-wallets"); rc != exitOK {
				fmt.Fprintf(stderr, "stopped at record %d; run the same command again to resume\n", send[0].n)
				return exitUsage
			}
			if len(ans.Results) != len(send) {
				fmt.Fprintf(stderr, "ecogate issue import-wallets: the node answered %d results for %d balances\n", len(ans.Results), len(send))
				return exitUsage
			}
			for k, res := range ans.Results {
				counts[res.Status]++
				if res.Status == "failed" {
					r := send[k]
					_ = enc.Encode(failure{Source: src, Record: r.n, IEC: r.b.IEC, Office: r.b.Office, Amount: r.b.Amount, Code: res.Code, Error: res.Error})
				}
			}
		}
		i = end
		if err := os.WriteFile(*checkpoint, []byte(strconv.Itoa(i)+"\n"), 0o644); err != nil {
			fmt.Fprintf(stderr, "ecogate issue import-wallets: checkpoint: %v\n", err)
			return exitUsage
		}
	}
	fmt.Fprintf(stdout, "%d records: %d migrated, %d already migrated, %d zero, %d failed\n", len(recs)-done,
		counts[issuance.MigrationDone], counts[issuance.MigrationAlready], counts[issuance.MigrationZero], counts["failed"])
	if counts["failed"] > 0 {
		fmt.Fprintf(stdout, "failures: %s\n", *report)
		return exitFail
	}
	return exitOK
}
