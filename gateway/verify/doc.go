// Package verify is the node's public face: anyone can check a certificate
// this node issued, by issuing country and number on the page /verify or by
// the QR link printed on the certificate (/verify/q/{token}, a 128-bit
// random token that cannot be derived from the number). It shows the
// details printed on the certificate, as the DGFT verification page does
// (number, version, issue date, validity, agreement, issuer, exporter,
// importer and importing country, goods with HS codes and quantities,
// status and replacement), never the parties' identifiers, as HTML (html/template, no external assets, a strict
// Content-Security-Policy, no referrer) or as JSON with
// Accept: application/json.
//
// Anti-automation: a token-bucket rate limit per client address, and after
// repeated lookups that find nothing, an arithmetic challenge whose
// HMAC-signed id carries its expiry (single use). Lookups are logged with
// the client address as a keyed, truncated hash and never with party data.
//
// It reads the register of issued certificates (store.Issued, filled with
// customs.IssuedRecords when a certificate is queued) through the Register interface declared here.
package verify
