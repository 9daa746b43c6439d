// Package gateway owns the ecogate node: the partner API (mutual TLS, under
// /eco/v1), the local API (/api/v1, metrics and health, on a protected
// listener), the receive pipeline, the delivery workers and pull mode.
//
// # Receiving
//
// POST /eco/v1/envelopes takes a JSON Envelope whose content is a signed
// e-CO. The client certificate must map to a registered partner, and the
// envelope's sender must be that partner (otherwise 403; no certificate or
// one no partner's CA issued is refused in the TLS handshake). The body is
// capped (413). The pipeline then:
//
//  1. deduplicates by message id: a message seen before with the same
//     content gets its original receipt back and creates nothing; the same
//     id with other content is refused (409) and audited;
//  2. verifies the XML signature against the sending partner's
//     document-signing anchors and CRLs (package certs);
//  3. decodes the certificate only from the element the verification
//     returned (package schema), never from the bytes handed in;
//  4. validates it (dataset, code lists, agreement profile) and checks
//     that the partner speaks for its own country: the export country and
//     the issuing body's country (when stated) must be the partner's
//     registry country (SEVERE ECO-GW-EXPORT-COUNTRY,
//     ECO-GW-ISSUING-COUNTRY otherwise);
//  5. signs a Receipt as a compact JWS with the node's receipt key, and
//     stores the exact bytes, the receipt, an index and the certificate's
//     status changes in one fsynced write (package store), deduplicating
//     also by certificate number, version and kind;
//  6. only then answers with the receipt.
//
// The outcome is Delivered, DeliveredWithWarnings (readable, with warnings:
// stored), DeliveredNotReadable (not XML, refused by the strict parser, or
// not an e-CO) or FailedDelivery (bad signature, untrusted signer, header or
// routing error, or any SEVERE finding, whose code is the first finding:
// a SEVERE finding never yields a delivered outcome). The last two are kept for tracking and duplicates but not
// as accepted certificates. An infrastructure failure answers 503 without
// a receipt, so that the sender retries.
//
// # Sending
//
// Submit (POST /api/v1/outbound) refuses (400 not-own-country) an e-CO
// whose export or issuing body's country is not this node's, validates it,
// signs it with the issuing authority's key unless it is signed already
// (then it must verify against the node's own anchors), and queues one
// message per recipient in the durable outbox. RunDelivery claims due messages with a lease, pushes
// them over mutual TLS, verifies the receipt (its signer must chain to the
// partner's document-signing anchors or TLS CAs, its content hash must be
// the message's), and records the outcome. A failed attempt is retried
// under the same message id on the partner's partners.RetryPolicy (exponential
// backoff with jitter, by cenkalti/backoff v5; the schedule lives in the
// outbox); when the attempts or the maximum age are spent, the message is
// suspended, counted and kept for a manual retry. Messages about one
// certificate reach a partner in order: a withdrawal never overtakes the
// issue.
//
// # Status messages
//
// A withdrawal (status 40 or message function 1) and a replacement
// (function 5 or a ReplacedCertificate) travel like any e-CO. The receiver
// marks the version withdrawn, or the replaced version(s) replaced; a
// withdrawn or replaced version is never revived by a late message.
//
// # Pull mode
//
// For a partner in pull mode the node keeps its messages: the partner lists
// them (GET /eco/v1/inbox) and acknowledges each with its signed receipt
// (POST /eco/v1/inbox/{id}/ack). PullFrom is the client side.
//
// # Customs and public faces
//
// A node built from a configuration (Config.Open, faces.go) also runs the
// customs face (package gateway/customs) on listen.customs, HTTPS: the
// OAuth2 token endpoint POST /oauth/token and /customs/v1 checks,
// certificate lookups and decisions; and the public verification page
// (package gateway/verify) on listen.public: /verify and the QR links
// /verify/q/{token}. They reach the Node only through Options hooks, so
// node.go imports neither package:
//
//   - RegisterEntries gives, for every certificate this node signs, its
//     entries in the register of issued certificates (QR token,
//     verification-query answers, the public page); Submit writes them
//     in the transaction that queues the messages and their audit
//     entries (store.Outbox.EnqueueRegistered), so submitting is one act;
//   - CheckView (bbolt: in the transaction that accepts the message) or
//     else OnAccepted (after it) stores the customs check view of an
//     accepted e-CO, keyed by the verified sending partner (never by the
//     document's export country);
//   - Handlers["decision"] (DecisionHandler) verifies an importing
//     customs' signed decision against the partner's document trust and
//     records it with the certificate it concerns;
//   - PartnerRoutes adds POST /eco/v1/verification-queries (M5: signed
//     answers about certificates this node issued, data only for the
//     country they were issued for);
//   - LocalRoutes adds GET /api/v1/issued/{number} (status, QR link and
//     the decisions received).
//
// Checks of certificates not stored here ask the issuing partner's node
// (M5) with the delivery workers' mutual-TLS client for that partner, and
// decisions travel back to the issuer through the outbox (kind
// "decision"), signed with the document-signing key.
//
// # Bulk import
//
// ImportSink is the mapping.Sink of `ecogate import`: it encodes each
// migrated certificate as canonical XML, signs it when asked (the node's
// DocumentSigner), computes its core data (customs.CoreOf) and stores all
// of it with store.Issued.Import in one transaction, so the public
// verification page and verification-query answers know it. Identity of a
// record is its number, version and the SHA-256 of its unsigned canonical
// XML: the same content again is skipped, other content refused.
//
// # Certificate expiry
//
// Node.Certificates lists every certificate the node relies on: its TLS
// server and client certificates, what Options.Certificates adds (Config.Open
// adds signing, receipts, customs token and client CAs, the public page's
// and the portal's QR certificate, each by configuration key) and each
// partner's TLS CAs and document-signing anchors, read from the partner
// directory at each call so a registry reload shows at once (certexpiry.go).
// They are exported as ecogate_certificate_expiry_timestamp_seconds{use,
// partner, subject, serial} (NotAfter as Unix seconds), and Serve logs each
// one within Options.CertificateWarning (30 days) of its expiry at WARN, or
// expired at ERROR, at start and then once a day by the node's Clock.
//
// # CRL staleness
//
// The node fails closed on a CRL past its NextUpdate: the certificates it
// covers are refused (documents, customs client certificates, partner
// TLS). Node.CRLs lists every CRL the node relies on: what Options.CRLs
// adds (Config.Open adds the CRLs in signing.trust and
// issuance.officerAnchors, and customs.clientCRLs as last read from their
// files) and each partner's tls.crls and documentSigning.crls, read from
// the partner directory at each call (crlstale.go). They are exported as
// ecogate_crl_next_update_timestamp_seconds{use, partner, issuer}
// (NextUpdate as Unix seconds; issuer is the issuer's common name, clipped
// like a certificate's subject; a CRL without NextUpdate has no series),
// and the certificate watch logs each one within Options.CRLWarning (two
// days, or half the CRL's validity when shorter) of its NextUpdate at
// WARN, or past it at ERROR, at start and then once a day by the Clock.
//
// # Dependencies
//
// The interfaces the node needs (Outbox, Inbox, AuditLog, DocumentVerifier,
// DocumentSigner, Validator, ReceiptSigner, ReceiptVerifier,
// PartnerDirectory, Clock) are declared here. *store.Outbox, *store.Inbox and
// *store.Audit satisfy the first three; adapters.go wires certs, schema and
// partners to the others. What only the tests, the demo and the benchmarks
// use lives outside the package: devnet_test.go starts in-process
// development nodes for the tests, internal/devsite lays out node folders
// (and holds the configuration template behind --example-config), and
// internal/samplecert is the sample e-CO.
package gateway
