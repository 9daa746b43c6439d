package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ecogate/ecogate/gateway"
	"github.com/ecogate/ecogate/issuance"
	"github.com/ecogate/ecogate/portal"
	"github.com/ecogate/ecogate/store"
)

const portalUsage = `usage: ecogate portal add-user (--config FILE | --data FILE) --role ROLE --person ID NAME
       ecogate portal disable-user (--config FILE | --data FILE) NAME

Manage the web portal's logins (listen.portal) on a STOPPED node's data file,
or, with a configuration of store.engine: postgres, in its database (the
replicas may run: they read the logins from it).

add-user      create (or reset the password of) login NAME acting as the
              issuance person ID in ROLE: exporter-admin, applicant,
              agency-admin, officer or operator. The person must be
              registered in the issuance workflow (ecogate issue, the
              issuance API) with that role; an operator must be listed in
              issuance.operators. The password is read from
              $ECOGATE_PORTAL_PASSWORD, else from the first line of stdin
              (at least 12 characters); it is stored as an argon2id hash.
disable-user  refuse NAME's logins and sessions from now on.
`

func runPortal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runPortalIn(ctx, args, os.Stdin, stdout, stderr)
}

func runPortalIn(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecogate portal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, portalUsage) }
	config := fs.String("config", "", "the node's configuration `FILE`")
	data := fs.String("data", "", "the node's bbolt data `FILE`")
	role := fs.String("role", "", "add-user: the `ROLE`")
	person := fs.String("person", "", "add-user: the issuance person `ID`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 2 || pos[0] != "add-user" && pos[0] != "disable-user" || (*config == "") == (*data == "") {
		fmt.Fprint(stderr, portalUsage)
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ecogate portal %s: %s\n", pos[0], fmt.Sprintf(format, a...))
		return exitUsage
	}
	name := strings.TrimSpace(pos[1])
	var operators []string
	var cfg *gateway.Config
	if *config != "" {
		if cfg, err = gateway.LoadConfig(*config); err != nil {
			return fail("%v", err)
		}
		*data, operators = cfg.Data, cfg.Issuance.Operators
	}
	var pw string
	if pos[0] == "add-user" {
		r := issuance.Role(*role)
		if !roleKnown(r) {
			return fail("--role %q is not one of %v", *role, issuance.Roles)
		}
		if strings.TrimSpace(*person) == "" {
			return fail("give --person, the issuance person id the login acts as")
		}
		if pw = os.Getenv("ECOGATE_PORTAL_PASSWORD"); pw == "" {
			line, _ := bufio.NewReader(stdin).ReadString('\n')
			pw = strings.TrimRight(line, "\r\n")
		}
		if len(pw) < 12 {
			return fail("the password must have at least 12 characters (give it in $ECOGATE_PORTAL_PASSWORD or on stdin)")
		}
	}
	var ps portalLogins
	var is issuance.Store
	if cfg != nil && cfg.Store.Engine == gateway.EnginePostgres {
		pg, err := cfg.OpenPG(ctx, slog.New(slog.DiscardHandler), false)
		if err != nil {
			return fail("%v", err)
		}
		defer pg.Close()
		ps, is = pg.Portal(), pg.Issuance()
	} else {
		db, err := store.Open(*data, store.Options{LockTimeout: time.Second})
		if err != nil {
			return fail("%v (stop the node first: the portal's logins are written to its data file)", err)
		}
		defer db.Close()
		ps, is = db.Portal(), db.Issuance()
	}
	if pos[0] == "disable-user" {
		u, err := ps.User(ctx, name)
		if err != nil {
			return fail("login %q: %v", name, err)
		}
		u.Disabled, u.Updated = true, time.Now().UTC()
		if err := ps.PutUser(ctx, u); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "login %s disabled\n", name)
		return exitOK
	}
	id := strings.ToLower(strings.TrimSpace(*person))
	r := issuance.Role(*role)
	if r == issuance.RoleOperator {
		found := false
		for _, o := range operators {
			found = found || strings.EqualFold(strings.TrimSpace(o), id)
		}
		if *config != "" && !found {
			return fail("%s is not in issuance.operators of the configuration", id)
		}
	} else {
		var p *issuance.Person
		err := is.View(ctx, func(tx issuance.Tx) error {
			var err error
			p, err = tx.Person(id)
			return err
		})
		if err != nil {
			return fail("issuance person %q: %v (register it first: ecogate issue, or the issuance API)", id, err)
		}
		if p.Role != r {
			return fail("issuance person %s is a %s, not a %s", id, p.Role, r)
		}
	}
	hash, err := portal.HashPassword(pw)
	if err != nil {
		return fail("%v", err)
	}
	now := time.Now().UTC()
	u := &store.PortalUser{Name: name, Hash: hash, Person: id, Role: string(r), Created: now, Updated: now}
	if old, err := ps.User(ctx, name); err == nil {
		u.Created = old.Created
	}
	if err := ps.PutUser(ctx, u); err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, "login %s acts as %s (%s)\n", name, id, r)
	return exitOK
}

// portalLogins is the portal's login storage of either engine.
type portalLogins interface {
	User(ctx context.Context, name string) (*store.PortalUser, error)
	PutUser(ctx context.Context, u *store.PortalUser) error
}

func roleKnown(r issuance.Role) bool {
	for _, x := range issuance.Roles {
		if x == r {
			return true
		}
	}
	return false
}
