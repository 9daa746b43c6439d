package main

import (
	"context"
	"crypto/x509"
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

	"github.com/ecogate/ecogate/certs"
	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/gateway/customs"
	"github.com/ecogate/ecogate/store"
)

const customsClientsUsage = `usage: ecogate customs-clients add    (--config FILE | --node URL | --data FILE) --scopes SCOPES [--cert FILE] NAME
       ecogate customs-clients renew  (--config FILE | --node URL | --data FILE) [--cert FILE] [--finish] ID
       ecogate customs-clients list   (--config FILE | --node URL | --data FILE)
       ecogate customs-clients revoke (--config FILE | --node URL | --data FILE) ID

--config FILE (the node's configuration) works whether the node runs or
not: through its local API (listen.local) when it answers, else on its data
file (which add creates if the node never ran). --node URL names a running
node's local API; --data FILE a stopped node's data file.

add     register a customs declaration system as an OAuth2 client; prints its
        client id and secret ONCE (only a hash of the secret is stored).
        With --cert FILE (the system's PEM client certificate, never its key)
        the client authenticates with that certificate instead (mutual TLS
        on listen.customs; the node's customs.clientCAs must hold its CA) and
        gets no secret; it is bound by the certificate's SHA-256, so a
        renewed certificate is bound again with renew
renew   --cert FILE binds the renewed certificate of a certificate client
        beside its current one: both authenticate as the same client id,
        with the same scopes, so the system's instances can switch one by
        one. The old binding ends with --finish (alone: now, once every
        instance uses the new certificate; with --cert: bind and end the
        old binding at once, e.g. for a compromised key); an expired old
        certificate authenticates nothing meanwhile. Renewing again before
        that replaces the pending
        certificate. A revoked client cannot be renewed
list    the clients with their scopes, how they authenticate (both
        certificates during a renewal, with their expiry) and state
revoke  revoke a client: no new tokens, its tokens and its certificate
        stop working within seconds on a running node; its certificates
        are never bound again (add and renew refuse them)

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
	certFile := fs.String("cert", "", "add, renew: the declaration system's client certificate `FILE` (PEM); the client authenticates with it instead of a secret")
	finish := fs.Bool("finish", false, "renew: end the old certificate's binding now")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	switch {
	case len(pos) == 2 && (pos[0] == "add" || pos[0] == "revoke" || pos[0] == "renew"), len(pos) == 1 && pos[0] == "list":
	default:
		fmt.Fprint(stderr, customsClientsUsage)
		return exitUsage
	}
	tg, err := resolveTarget(ctx, *data, *config, *node)
	if err != nil {
		fmt.Fprintln(stderr, "ecogate customs-clients:", err)
		return exitUsage
	}
	req := customsClientsReq{finish: *finish}
	switch {
	case pos[0] == "add":
		if req.scopes, err = customs.CheckScopes(strings.Split(*scopes, ",")); err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients add: %v (e.g. --scopes %s)\n", err, strings.Join(customs.Scopes(), ","))
			return exitUsage
		}
	case pos[0] == "renew" && *certFile == "" && !*finish:
		fmt.Fprintln(stderr, "ecogate customs-clients renew: give --cert FILE (the renewed certificate), --finish, or both")
		return exitUsage
	case pos[0] != "renew" && *certFile != "":
		fmt.Fprintln(stderr, "ecogate customs-clients: --cert is for add and renew only")
		return exitUsage
	}
	if *scopes != "" && pos[0] != "add" {
		fmt.Fprintf(stderr, "ecogate customs-clients %s: --scopes is for add only (a renewed client keeps its scopes; for others, add a new client and revoke this one)\n", pos[0])
		return exitUsage
	}
	if *finish && pos[0] != "renew" {
		fmt.Fprintln(stderr, "ecogate customs-clients: --finish is for renew only")
		return exitUsage
	}
	if *certFile != "" {
		if req.cert, req.certPEM, err = readClientCert(*certFile); err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients %s: --cert %s: %v\n", pos[0], *certFile, err)
			return exitUsage
		}
		warnClientCA(*config, req.cert, stderr, pos[0])
	}
	if tg.api != "" {
		return customsClientsAPI(ctx, tg, pos, req, stdout, stderr)
	}
	if *config != "" {
		if code, ok := customsClientsPG(ctx, *config, pos, req, stdout, stderr); ok {
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
	return customsClientsStore(ctx, db.Customs(), db.Audit(), pos, req, stdout, stderr)
}

// customsClientsReq is what add registers: scopes and, for a client that
// authenticates by certificate, the certificate; or what renew binds (the
// certificate) and whether it finishes the renewal.
type customsClientsReq struct {
	scopes  []string
	cert    *x509.Certificate
	certPEM []byte
	finish  bool
}

// readClientCert reads the certificate of --cert: one certificate, no
// private key, able to authenticate a TLS client now.
func readClientCert(path string) (*x509.Certificate, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	c, err := customs.ParseClientCert(b)
	if err != nil {
		return nil, nil, err
	}
	if err := customs.CheckClientCert(c, time.Now()); err != nil {
		return nil, nil, err
	}
	return c, certs.CertPEM(c), nil
}

// warnClientCA warns when the configuration's customs.clientCAs would not
// accept the certificate at the handshake (the client is registered
// anyway: the CAs may be configured next).
func warnClientCA(config string, c *x509.Certificate, stderr io.Writer, cmd string) {
	if config == "" {
		return
	}
	cfg, err := gateway.LoadConfig(config)
	if err != nil {
		return
	}
	if len(cfg.Customs.ClientCAs) == 0 {
		fmt.Fprintf(stderr, "ecogate customs-clients %s: warning: %s has no customs.clientCAs, so the customs API asks for no client certificate; "+
			"add the CA that issued %q and restart the node\n", cmd, config, c.Issuer)
		return
	}
	roots := x509.NewCertPool()
	for _, f := range cfg.Customs.ClientCAs {
		cs, err := certs.LoadCertificates(f)
		if err != nil {
			return // the node refuses to start with the reason
		}
		for _, ca := range cs {
			roots.AddCert(ca)
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		fmt.Fprintf(stderr, "ecogate customs-clients %s: warning: the certificate does not verify against customs.clientCAs of %s (%v); "+
			"the handshake refuses it unless the client sends the missing intermediate CA\n", cmd, config, err)
	}
}

// customsClientsStore runs add, list, renew or revoke on a stopped node's
// store (or on PostgreSQL).
func customsClientsStore(ctx context.Context, cs customs.ClientAdmin, audit customs.AuditLog, pos []string, req customsClientsReq, stdout, stderr io.Writer) int {
	switch pos[0] {
	case "add":
		var nc *customs.NewClient
		var err error
		if req.cert != nil {
			nc, err = customs.AddCertClient(ctx, cs, audit, operator(), pos[1], req.scopes, req.cert, time.Now())
		} else {
			nc, err = customs.AddClient(ctx, cs, audit, operator(), pos[1], req.scopes, time.Now())
		}
		if nc != nil {
			printNewClient(stdout, nc)
		}
		if err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients add: %v\n", err)
			if nc == nil {
				return refusalCode(err)
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
			return refusalCode(err)
		}
		fmt.Fprintf(stdout, "revoked %s\n", id)
	case "renew":
		info, err := customs.RenewCertClient(ctx, cs, audit, operator(), pos[1], req.cert, req.finish, time.Now())
		if info != nil {
			printRenewed(stdout, info)
		}
		if err != nil {
			fmt.Fprintf(stderr, "ecogate customs-clients renew: %v\n", err)
			if info != nil { // bound, but the renewal not finished: the old certificate still works
				return exitFail
			}
			return refusalCode(err)
		}
	}
	return exitOK
}

// refusalCode is the exit code of a failed add, revoke or renew on a
// stopped node's data file, the same as through a running node's local
// API (404, 409 and 400 there): 1 for a request the store refused (an
// unknown client, a conflict, an invalid request), 2 for anything else
// (the file could not be read or written).
func refusalCode(err error) int {
	for _, refused := range []error{store.ErrNotFound, store.ErrConflict, store.ErrInvalid, customs.ErrBadClientRequest} {
		if errors.Is(err, refused) {
			return exitFail
		}
	}
	return exitUsage
}

// printRenewed shows a certificate client after renew.
func printRenewed(stdout io.Writer, c *customs.ClientInfo) {
	fmt.Fprintf(stdout, "client_id:     %s\ncertificate:   %s\ncert_sha256:   %s\ncert_expires:  %s\n", c.ID, c.CertSubject, c.CertSHA256, c.CertNotAfter.Format(time.RFC3339))
	if c.NextCertSHA256 == "" {
		fmt.Fprint(stdout, "\nThe renewal is finished: only this certificate authenticates as the client.\n")
		return
	}
	fmt.Fprintf(stdout, "next:          %s\nnext_sha256:   %s\nnext_expires:  %s\n\n"+
		"Both certificates authenticate as the client until the renewal is finished\n"+
		"(ecogate customs-clients renew --finish %s, once every instance uses the next one); then only the next one does.\n",
		c.NextCertSubject, c.NextCertSHA256, c.NextCertNotAfter.Format(time.RFC3339), c.ID)
}

func printNewClient(stdout io.Writer, nc *customs.NewClient) {
	if nc.CertSHA256 != "" {
		fmt.Fprintf(stdout, "client_id:     %s\ncertificate:   %s\ncert_sha256:   %s\ncert_expires:  %s\nscopes:        %s\n\n"+
			"The client authenticates with this certificate (mutual TLS on the customs API); it has no secret.\n",
			nc.ID, nc.CertSubject, nc.CertSHA256, nc.CertNotAfter.Format(time.RFC3339), strings.Join(nc.Scopes, " "))
		return
	}
	fmt.Fprintf(stdout, "client_id:     %s\nclient_secret: %s\nscopes:        %s\n\nThe secret is shown only now; store it in the declaration system's secret store.\n",
		nc.ID, nc.Secret, strings.Join(nc.Scopes, " "))
}

func printClients(stdout io.Writer, cl []customs.ClientInfo) {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tAUTH\tCREATED\tSTATE")
	for _, c := range cl {
		state := "active"
		if !c.Revoked.IsZero() {
			state = "revoked " + c.Revoked.Format(time.RFC3339)
		}
		auth := "secret"
		if c.CertSHA256 != "" {
			auth = "cert sha256:" + c.CertSHA256 + " (expires " + c.CertNotAfter.Format(time.DateOnly) + ")"
		}
		if c.NextCertSHA256 != "" {
			auth += " + next sha256:" + c.NextCertSHA256 + " (expires " + c.NextCertNotAfter.Format(time.DateOnly) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, strings.Join(c.Scopes, ","), auth, c.Created.Format(time.RFC3339), state)
	}
	tw.Flush()
}

// customsClientsAPI manages the clients through a running node's local API.
func customsClientsAPI(ctx context.Context, tg target, pos []string, req customsClientsReq, stdout, stderr io.Writer) int {
	switch pos[0] {
	case "add":
		body, _ := json.Marshal(customs.AddClientRequest{Name: pos[1], Scopes: req.scopes, Certificate: string(req.certPEM)})
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
	case "renew":
		body, _ := json.Marshal(customs.RenewClientRequest{Certificate: string(req.certPEM), Finish: req.finish})
		var info struct {
			customs.ClientInfo
			Warning string `json:"warning"` // stored, but its audit entry failed
		}
		if code := localAPIBody(ctx, tg, http.MethodPost, "/api/v1/customs-clients/"+url.PathEscape(pos[1])+"/renew", body, &info, stderr, "customs-clients renew"); code != exitOK {
			return code
		}
		printRenewed(stdout, &info.ClientInfo)
		if info.Warning != "" {
			fmt.Fprintf(stderr, "ecogate customs-clients renew: %s\n", info.Warning)
		}
	}
	return exitOK
}
