// Package store owns ecogate's durable state on disk: the embedded bbolt
// engine, the outbox of messages we send to partners (with its retry
// schedule), the inbox of messages partners sent us (with deduplication and
// the certificate status records they carry), the register of certificates
// this node issued (QR tokens, statuses, core data, decisions received) with
// the exact documents of certificates migrated from a legacy platform
// (Issued.Import: document, idempotency record and register entry in one
// transaction; the same content again is a no-op, other content under the
// same number and version a conflict), the customs state, the records of
// the domestic issuance workflow (IssuanceStore implements issuance.Store:
// organisations, people, applications, e-wallets, numbering series; own
// isu_* buckets), and the append-only, hash-chained audit log.
//
// Durability. Open never sets bbolt's NoSync: every committed write
// transaction is fsynced before the call that asked for it returns. All
// writes go through one writer goroutine that groups the operations pending
// at that moment into a single transaction (group commit), so many producers
// share one fsync. An operation that fails is removed from its group and the
// others are committed without it; a failed commit fails every operation of
// its group, and none of them is visible.
//
// Documents are stored once, content-addressed and compressed, whichever
// path brought them: outbox and inbox content and imported certificates
// are blobs keyed by their SHA-256 (S2 on the hot paths; a fixed e-CO
// dictionary with zstd for bulk imports, about 1.3 KB for a 7 KB
// document); reads always return the exact bytes stored. Files written
// before imported documents became blobs keep their raw copies, which
// are still read and checked.
//
// Consistency. DB.Check runs bbolt's check and this package's index
// invariants: outbox and inbox indexes, issued-register tokens, and every
// imported document against its record (size, hash) and register entry.
//
// Safety on open. Open checks the file's structure (bbolt's tx.Check) and
// its schema version. A damaged file makes Open fail with a *CorruptError
// that names the file and says what to do; the store never starts empty in
// place of a file it cannot read.
//
// The store exposes concrete types (DB, Outbox, Inbox, Audit). Consumers such
// as the gateway declare the interfaces they need.
//
// Time always comes from Options.Clock, so retry and expiry tests need no
// sleeping.
package store
