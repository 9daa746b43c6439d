// Package api is the HTTP face of the issuance workflow (package
// issuance): the /api/v1/issuance endpoints, one per Service method, for
// people (bearer API tokens; the portal will add browser sessions behind
// the same Authenticator interface) and for exporters' own systems (OAuth2
// client credentials scoped to one IEC, POST /oauth/token), the payment
// gateway's callback (HMAC-checked by the domain) and a development
// payment gateway, the webhooks and e-mail/SMS notifications queued on the
// durable outbox in the transaction of each application move (Sink) and
// their in-process delivery (Deliverer, run by the node's delivery loop).
//
// The actor of every request is derived here from the credential, never
// from the body; the domain checks it again (role, status, organisation)
// and audits refusals. Bodies are decoded with internal/strictjson
// (duplicate keys, unknown members and wrong types refused, naming the
// field); errors are problem documents {status, code, error, field,
// problems} (application/problem+json).
//
// Dependencies point one way: gateway (which mounts Routes on the local
// API and registers the Deliverer's kinds) -> api -> issuance, store.
package api
