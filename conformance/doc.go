// Package conformance owns the conformance kit: a catalogue of named
// assertions (id, the standard or design rule it comes from, what it sends
// and what it expects) that any e-CO node's partner API can be tested
// against, the runner that plays a registered partner against a node's URL,
// the kit's own test PKI (TLS clients good, unknown and expired; document
// signers good, revoked, expired, under a wrong anchor and a same-name
// impostor; a receipt key), the reference partner node (Serve) that checks
// what another implementation sends, and the reports (JUnit XML, HTML,
// JSON).
//
// The kit speaks the wire protocol itself (JSON envelopes over mutual TLS,
// enveloped XML-DSig documents, JWS receipts) and checks every answer
// against the published OpenAPI documents (package openapi). It depends on
// certs, schema and openapi but never on gateway: it must test other
// implementations as fairly as ecogate's own node.
//
// Layout of a kit directory (Init writes it):
//
//	kit.json                    the kit's country and name
//	pki/                        the kit's keys and certificates (private: stays with the tester)
//	node/                       what the node under test loads so that the kit is a registered partner:
//	  tls-ca.pem                  CA of the kit's TLS client certificates
//	  signing-anchors.pem         the kit's document-signing anchor
//	  signing-crls.pem            its CRLs (one revokes the kit's "revoked" signer)
//	  partners-entry.yaml         the entry for an ecogate partners.yaml
//	INSTRUCTIONS.md             the steps for any node, ecogate or not
package conformance
