// Package customs is the customs face of the node: the importing customs'
// declaration system gets an OAuth2 client-credentials token
// (POST /oauth/token) or presents a client certificate bound to it
// (mutual TLS, mtls.go: the same scopes and audit actor), checks a certificate against a declaration in real
// time (POST /customs/v1/checks: AUTHENTIC, MISMATCH with what differs per
// item, NOT_FOUND, WITHDRAWN, REPLACED, EXPIRED, UNTRUSTED, REVOKED (the
// signer chain stored with the view is re-evaluated against the partner's
// CRLs loaded now, Options.SignerTrust, signer.go), or TIMEOUT /
// UNAVAILABLE when the check could not be made), reads a stored certificate
// (GET /customs/v1/certificates/{country}/{number}) and records the
// officer's decision per goods item with the quantity used
// (POST /customs/v1/decisions), which travels back to the issuer as a
// signed ImportOutcome (M6) through the outbox.
//
// A check reads one compact view per certificate (View: parties, items with
// HS6 and quantity in a base unit, validity, verification summary) plus the
// inbox's status record and the utilisation per item, in one bbolt read
// transaction, with no decoding cache (the binary view is read in place).
// The view is built
// eagerly by the receive pipeline (Service.StoreView) or lazily on the
// first check from the stored exact bytes.
//
// Certificates not stored here are asked of the issuing node in real time
// (QueryClient, M5, mutual TLS, a timeout, signed answers cached); the
// issuer side of M5 is QueryHandler. Quantities convert between UN/ECE
// Rec 20 units where Rec 20 defines the factor (units.go) and are refused
// otherwise.
//
// Wiring in the node (gateway/faces.go does it for every node built from
// a configuration, gateway.Config.Open; nothing here imports the gateway):
//
//   - customs listener (listen.customs, HTTPS with tls.cert/tls.key):
//     customs.New(Options{...}).Routes() at "/"; tokens signed with
//     customs.tokenKey (default: the receipt key); with customs.clientCAs
//     the listener verifies client certificates when given
//     (tls.VerifyClientCertIfGiven) and Options.ClientCRLs gives
//     customs.clientCRLs as loaded now;
//   - partner API: QueryHandler(...) at POST /eco/v1/verification-queries
//     behind the mTLS partner check (the asker from its client
//     certificate); the QueryClient reaches partners with the delivery
//     workers' mutual-TLS clients and verifies answers against the
//     partner's receipt trust;
//   - receive pipeline, accepted e-CO: Service.StoreView(ctx, from, cert,
//     report, chain...) after Inbox.Accept (optional: the first check
//     builds the view, recovering the chain from the stored signed bytes);
//     from is the verified sending partner: views are keyed by it (as the
//     inbox is), never by the document's export country;
//   - Options.SignerTrust: the partner's DocumentTrust from the registry
//     in force (a reload gives a new one);
//   - receive pipeline, message kind "decision": ApplyDecision(ctx,
//     db.Issued(), partner.DocumentTrust, partner, messageID, content, now)
//     instead of the e-CO evaluation (gateway.DecisionHandler);
//   - send pipeline, a certificate this node signed: its IssuedRecords(cert)
//     are written with the messages in one transaction
//     (store.Outbox.EnqueueRegistered; QR token, M5 answers, the public
//     page); RegisterIssued(ctx, db.Issued(), cert) writes them alone;
//   - local API: IssuedRoutesWithLinks(db.Issued(), verify QRLink) under
//     /api/v1 (decisions shown with the certificates this node issued).
//
// Owns: the customs API handlers, its two ways of authentication (bearer
// tokens, auth.go; client certificates, mtls.go, renewed with an overlap
// window, renew.go), the Rec 20 conversion table, the M5
// client and handler, M6 creation (Decide) and application at the issuer
// (ApplyDecision, IssuedRoutes). Durable state lives in package store
// (store.Customs, store.Issued); interfaces are declared here, by their
// consumer.
package customs
