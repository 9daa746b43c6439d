package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/store"
)

const customsClientsUsage = `usage: ecogate customs-clients add    --data FILE --scopes SCOPES NAME
       ecogate customs-clients list   --data FILE
       ecogate customs-clients revoke --data FILE ID

--config FILE (the node's configuration) may stand for --data: its data key
names the file.

add     register a customs declaration system as an OAuth2 client; prints its
        client id and secret ONCE (only a hash of the secret is stored)
list    the clients with their scopes and state
revoke  revoke a client: no new tokens, and its tokens stop working within
        seconds on a running node

Scopes (comma-separated): customs:check, customs:read, customs:decide.
The client gets tokens with POST /oauth/token (grant_type=client_credentials,
HTTP Basic client_id:client_secret). Run against a stopped node (bbolt lock).
`

func runCustomsClients(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate customs-clients", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, customsClientsUsage) }
	data := fs.String("data", "", "the node's bbolt data `FILE`")
	config := fs.String("config", "", "the node's configuration `FILE` (its data file is used)")
	scopes := fs.String("scopes", "", "add: comma-separated `SCOPES`")
	pos, err := opsParseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case len(pos) == 2 && (pos[0] == "add" || pos[0] == "revoke"), len(pos) == 1 && pos[0] == "list":
	default:
		fmt.Fprint(stderr, customsClientsUsage)
		return exitUsage
	}
	if *config != "" {
		if *data != "" {
			fmt.Fprintln(stderr, "ecogate customs-clients: give --data or --config, not both")
			return exitUsage
		}
		cfg, err := gateway.LoadConfig(*config)
		if err != nil {
			fmt.Fprintln(stderr, "ecogate customs-clients:", err)
			return exitUsage
		}
		*data = cfg.Data
	}
	var scopeList []string
	if pos[0] == "add" {
		for _, s := range strings.Split(*scopes, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if !slices.Contains(customs.Scopes(), s) {
				fmt.Fprintf(stderr, "ecogate customs-clients: unknown scope %q; use %s\n", s, strings.Join(customs.Scopes(), ", "))
				return exitUsage
			}
			if !slices.Contains(scopeList, s) {
				scopeList = append(scopeList, s)
			}
		}
		if len(scopeList) == 0 {
			fmt.Fprintf(stderr, "ecogate customs-clients add: give --scopes, e.g. --scopes %s\n", strings.Join(customs.Scopes(), ","))
			return exitUsage
		}
	}
	var db *store.DB
	if pos[0] == "add" && *data != "" {
		// The first client may be added before the node ever ran.
		if _, err := os.Stat(*data); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(*data), 0o700); err != nil {
				fmt.Fprintf(stderr, "ecogate customs-clients: %v\n", err)
				return exitUsage
			}
			if db, err = store.Open(*data, store.Options{LockTimeout: time.Second}); err != nil {
				fmt.Fprintf(stderr, "ecogate customs-clients: %v\n", err)
				return exitUsage
			}
		}
	}
	if db == nil {
		var ok bool
		if db, ok = openData(*data, stderr, "customs-clients"); !ok {
			return exitUsage
		}
	}
	defer db.Close()
	cs := db.Customs()
	switch pos[0] {
	case "add":
		name := strings.TrimSpace(pos[1])
		id, secret, hash := customs.NewClientCredentials()
		if err := cs.AddClient(ctx, store.CustomsClient{ID: id, Name: name, SecretHash: hash, Scopes: scopeList}); err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients add: %v\n", err)
			return exitUsage
		}
		if _, err := db.Audit().Append(ctx, store.Entry{Actor: operator(), Action: "customs-client.add", Subject: id,
			Details: map[string]string{"name": name, "scopes": strings.Join(scopeList, " ")}}); err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients add: the client was added but the audit entry failed: %v\n", err)
		}
		fmt.Fprintf(stdout, "client_id:     %s\nclient_secret: %s\nscopes:        %s\n\nThe secret is shown only now; store it in the declaration system's secret store.\n",
			id, secret, strings.Join(scopeList, " "))
	case "list":
		cl, err := cs.Clients(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients list: %v\n", err)
			return exitUsage
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tSTATE")
		for _, c := range cl {
			state := "active"
			if !c.Revoked.IsZero() {
				state = "revoked " + c.Revoked.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, strings.Join(c.Scopes, ","), c.Created.Format(time.RFC3339), state)
		}
		tw.Flush()
	case "revoke":
		id := pos[1]
		if err := cs.RevokeClient(ctx, id); err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients revoke: %v\n", err)
			if errors.Is(err, store.ErrNotFound) {
				return exitFail
			}
			return exitUsage
		}
		if _, err := db.Audit().Append(ctx, store.Entry{Actor: operator(), Action: "customs-client.revoke", Subject: id}); err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients revoke: the client was revoked but the audit entry failed: %v\n", err)
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
	}
	return exitOK
}
