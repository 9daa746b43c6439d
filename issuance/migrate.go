package issuance

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// MigratedReason is the reason of the ledger entry a migrated opening
// balance makes (followed by the legacy reference, when given).
const MigratedReason = "migrated opening balance"

// MigratedBalance is one e-wallet balance carried over from the legacy
// platform: the exporter's IEC, the office, the balance in minor units
// and the legacy platform's reference (its account or statement id).
type MigratedBalance struct {
	IEC    string `json:"iec"`
	Office string `json:"office"`
	Amount int64  `json:"amount"`
	Ref    string `json:"ref,omitempty"`
}

// Migration outcomes.
const (
	MigrationDone    = "migrated" // the ledger entry was written now
	MigrationAlready = "already"  // the same balance was migrated before (nothing written)
	MigrationZero    = "zero"     // a zero balance: nothing to carry over (nothing written)
)

// MigrateBalance writes a migrated opening balance into an exporter's
// e-wallet at an office: one ledger entry "migrated opening balance"
// (credit), audited. Node operator only. It is idempotent: a wallet that
// already holds a migrated opening balance of the same amount answers
// MigrationAlready and changes nothing; one of another amount is refused
// (ErrConflict) rather than migrated twice. An unknown IEC or office, an
// office without e-wallet or a negative amount is refused with the reason.
func (s *Service) MigrateBalance(ctx context.Context, a Actor, m MigratedBalance) (string, *Movement, error) {
	m.IEC, m.Office, m.Ref = strings.TrimSpace(m.IEC), strings.TrimSpace(m.Office), strings.TrimSpace(m.Ref)
	if err := ValidIEC(m.IEC); err != nil {
		return "", nil, fmt.Errorf("migrate balance: %w: %v", ErrInvalid, err)
	}
	if m.Office == "" {
		return "", nil, fmt.Errorf("migrate balance of %s: %w: the office is missing", m.IEC, ErrInvalid)
	}
	if m.Amount < 0 || m.Amount > maxAmount {
		return "", nil, fmt.Errorf("migrate balance of %s/%s: %w: the amount %d must be between 0 and %d (minor units)", m.IEC, m.Office, ErrInvalid, m.Amount, maxAmount)
	}
	if len(m.Ref) > 100 || strings.ContainsAny(m.Ref, "\r\n\x00") {
		return "", nil, fmt.Errorf("migrate balance of %s/%s: %w: the reference must be one line of at most 100 characters", m.IEC, m.Office, ErrInvalid)
	}
	status := MigrationDone
	var out *Movement
	err := s.do(ctx, a, "migrate balance", m.IEC+"/"+m.Office, func(tx Tx, p *principal) error {
		status = MigrationDone
		if err := need(p, "migrate e-wallet balances", RoleOperator); err != nil {
			return err
		}
		if _, err := tx.Exporter(m.IEC); err != nil {
			return fmt.Errorf("exporter %s: %w (register the exporter first)", m.IEC, err)
		}
		o, err := tx.Office(m.Office)
		if err != nil {
			return fmt.Errorf("office %s: %w (add the office first)", m.Office, err)
		}
		if !o.EWallet {
			return invalid("office %s has no e-wallet; turn it on before migrating balances", m.Office)
		}
		ms, err := tx.Movements(m.IEC, m.Office)
		if err != nil {
			return err
		}
		for i := range ms {
			if ms[i].Reason == MigratedReason || strings.HasPrefix(ms[i].Reason, MigratedReason+" ") {
				if ms[i].Amount == m.Amount {
					status, out = MigrationAlready, &ms[i]
					return nil
				}
				return fmt.Errorf("%w: the e-wallet %s/%s already holds a migrated opening balance of %d (movement %d), not %d", ErrConflict, m.IEC, m.Office, ms[i].Amount, ms[i].Seq, m.Amount)
			}
		}
		if m.Amount == 0 {
			status = MigrationZero
			return nil
		}
		reason := MigratedReason
		if m.Ref != "" {
			reason += " (" + m.Ref + ")"
		}
		mv := &Movement{IEC: m.IEC, Office: m.Office, Amount: m.Amount, Reason: reason, Actor: p.actor.ID, At: s.now()}
		if err := tx.AddMovement(mv); err != nil {
			return err
		}
		out = mv
		return s.audit(tx, p.String(), "wallet.migrate", m.IEC+"/"+m.Office, map[string]string{"amount": strconv.FormatInt(m.Amount, 10), "ref": m.Ref})
	})
	if err != nil {
		return "", nil, err
	}
	return status, out, nil
}
