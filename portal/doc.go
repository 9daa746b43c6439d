// Package portal is the node's web portal (design.md section 9): pages for
// exporters (administrators and applicants), agency administrators,
// officers, node operators and the public, server-rendered with
// html/template from templates and static files embedded in the binary,
// served by `ecogate serve` on listen.portal (off when empty).
//
// No business rule lives here: every page calls the issuance service
// (issuance.Service, which checks the actor's role and organisation) or
// the public verification face (gateway/verify, rendered in the portal's
// layout through verify.Options.Render).
//
// Security profile:
//
//   - Pages work without JavaScript; the only script is the embedded
//     static/rvc.js (the cost sheet's RVC updated as the exporter types;
//     the server computes it too on "recalculate"), and the
//     Content-Security-Policy is "default-src 'none'; script-src 'self'; style-src 'self';
//     img-src 'self' data:; form-action 'self'; frame-ancestors 'none';
//     base-uri 'none'".
//   - Sessions: a 256-bit random id in the cookie __Host-ecogate-session
//     (Secure, HttpOnly, SameSite=Strict, Path=/, Max-Age = the session
//     lifetime, default 8 h); stored under its SHA-256 (store.Portal), so
//     a copy of the data file holds no usable session. Logout deletes it
//     server-side: the old cookie is refused afterwards.
//   - Passwords: argon2id (golang.org/x/crypto/argon2) with the OWASP
//     parameters m=19456 KiB, t=2, p=1, 16-byte random salt, 32-byte key,
//     stored as a PHC string ($argon2id$v=19$m=19456,t=2,p=1$salt$key);
//     hashes with other parameters still verify (the parameters are read
//     from the string). Unknown users cost the same hash (no timing oracle).
//   - CSRF: two layers. Go's net/http CrossOriginProtection refuses
//     cross-origin unsafe requests (Sec-Fetch-Site, Origin); and every
//     form carries a synchronizer token: the session's random token for
//     signed-in forms, and for the login and the exporter's registration
//     forms an HMAC of a pre-session cookie (__Host-ecogate-pre). A
//     missing or wrong token is 403.
//     (A library such as gorilla/csrf was not taken: the two layers are a
//     few lines over the standard library and the session store.)
//   - Login is rate-limited per client address and per user name: a token
//     bucket (golang.org/x/time/rate) per key in a bounded LRU, as
//     gateway/verify does; time comes from Options.Clock.
//   - Roles: each page names the roles that may see it; any other role is
//     refused with 403 (and the issuance service refuses again, audited).
//
// Public pages besides /verify: the exporter's self-registration
// (register.go; the issuance service's SelfRegisterExporter, then the
// login), rate-limited per client address like the login.
//
// The certificate PDF (pdf.go) is laid out as the agreement's form, with
// codeberg.org/go-pdf/fpdf; its QR code carries the verification link and
// the signed payload of package qrsign.
package portal
