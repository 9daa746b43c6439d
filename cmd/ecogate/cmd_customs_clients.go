package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/store"
)

const customsClientsUsage = `usage: ecogate customs-clients add    (--config FILE | --node URL | --data FILE) --scopes SCOPES NAME
       ecogate customs-clients list   (--config FILE | --node URL | --data FILE)
       ecogate customs-clients revoke (--config FILE | --node URL | --data FILE) ID

--config FILE (the node's configuration) works whether the node runs or
not: through its local API (listen.local) when it answers, else on its data
file (which add creates if the node never ran). --node URL names a running
node's local API; --data FILE a stopped node's data file.

add     register a customs declaration system as an OAuth2 client; prints its
        client id and secret ONCE (only a hash of the secret is stored)
list    the clients with their scopes and state
revoke  revoke a client: no new tokens, and its tokens stop working within
        seconds on a running node

Scopes (comma-separated): customs:check, customs:read, customs:decide.
The client gets tokens with POST /oauth/token (grant_type=client_credentials,
HTTP Basic client_id:client_secret).
`

func runCustomsClients(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate customs-clients", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, customsClientsUsage) }
	data := fs.String("data", "", "the node's bbolt data `FILE`")
	config := fs.String("config", "", "the node's configuration `FILE` (local API when it runs, else its data file)")
	node := fs.String("node", "", "a running node's local API base `URL`")
	scopes := fs.String("scopes", "", "add: comma-separated `SCOPES`")
	pos, err := parseArgs(fs, args)
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
	tg, err := resolveTarget(ctx, *data, *config, *node)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate customs-clients:", err)
		return exitUsage
	}
	var scopeList []string
	if pos[0] == "add" {
		if scopeList, err = customs.CheckScopes(strings.Split(*scopes, ",")); err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients add: %v (e.g. --scopes %s)\n", err, strings.Join(customs.Scopes(), ","))
			return exitUsage
		}
	}
	if tg.api != "" {
		return customsClientsAPI(ctx, tg, pos, scopeList, stdout, stderr)
	}
	if *config != "" {
		if code, ok := customsClientsPG(ctx, *config, pos, scopeList, stdout, stderr); ok {
			return code
		}
	}
	*data = tg.data
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
	return customsClientsStore(ctx, db.Customs(), db.Audit(), pos, scopeList, stdout, stderr)
}

// customsClientsStore runs add, list or revoke on a stopped node's store.
func customsClientsStore(ctx context.Context, cs customs.ClientAdmin, audit customs.AuditLog, pos, scopeList []string, stdout, stderr io.Writer) int {
	switch pos[0] {
	case "add":
		nc, err := customs.AddClient(ctx, cs, audit, operator(), pos[1], scopeList, time.Now())
		if nc != nil {
			printNewClient(stdout, nc)
		}
		if err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients add: %v\n", err)
			if nc == nil {
				return exitUsage
			}
		}
	case "list":
		cl, err := cs.Clients(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients list: %v\n", err)
			return exitUsage
		}
		infos := make([]customs.ClientInfo, len(cl))
		for i, c := range cl {
			infos[i] = customs.InfoOf(c)
		}
		printClients(stdout, infos)
	case "revoke":
		id := pos[1]
		if err := customs.RevokeClient(ctx, cs, audit, operator(), id); err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients revoke: %v\n", err)
			if errors.Is(err, store.ErrNotFound) {
				return exitFail
			}
			return exitUsage
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
	}
	return exitOK
}

func printNewClient(stdout io.Writer, nc *customs.NewClient) {
	fmt.Fprintf(stdout, "client_id:     %s\nclient_secret: %s\nscopes:        %s\n\nThe secret is shown only now; store it in the declaration system's secret store.\n",
		nc.ID, nc.Secret, strings.Join(nc.Scopes, " "))
}

func printClients(stdout io.Writer, cl []customs.ClientInfo) {
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
}

// customsClientsAPI manages the clients through a running node's local API.
func customsClientsAPI(ctx context.Context, tg target, pos, scopes []string, stdout, stderr io.Writer) int {
	switch pos[0] {
	case "add":
		body, _ := json.Marshal(customs.AddClientRequest{Name: pos[1], Scopes: scopes})
		var nc customs.NewClient
		if code := localAPIBody(ctx, tg, http.MethodPost, "/api/v1/customs-clients", body, &nc, stderr, "customs-clients add"); code != exitOK {
			return code
		}
		printNewClient(stdout, &nc)
	case "list":
		var cl []customs.ClientInfo
		if code := localAPI(ctx, tg, http.MethodGet, "/api/v1/customs-clients", &cl, stderr, "customs-clients list"); code != exitOK {
			return code
		}
		printClients(stdout, cl)
	case "revoke":
		if code := localAPI(ctx, tg, http.MethodPost, "/api/v1/customs-clients/"+url.PathEscape(pos[1])+"/revoke", nil, stderr, "customs-clients revoke"); code != exitOK {
			return code
		}
		fmt.Fprintf(stdout, "revoked %s\n", pos[1])
	}
	return exitOK
}
