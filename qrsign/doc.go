// Package qrsign makes and checks the signed payload printed in a
// certificate's QR code (design.md section 9), so that a border officer
// can check a paper certificate offline against the issuing country's
// cached trust anchors.
//
// The payload is a compact JWS (RFC 7515), ES256 only, over a small JSON
// object with one-letter keys (Payload): issuing country, certificate
// number, version, issue date, exporter and importer names (cut at
// MaxName characters), the goods' HS codes at 6 digits (at most MaxHS,
// de-duplicated) and the verification URL. Its protected header is
// {"alg":"ES256","kid":K} where K is the base64url of the first 8 bytes of
// the SHA-256 of the QR signing certificate (DER): the certificate itself
// is not carried (it would triple the size); the verifier finds it among
// the QR certificates it has cached from the issuing country (a trust
// directory, or the partner registry) and checks that it chains to that
// country's document-signing anchors, carries digitalSignature and is not
// revoked by a CRL the trust store holds.
//
// The text printed as QR code is the verification URL, "#" and the JWS
// (Content): a phone opens the URL (the server never sees the fragment),
// an offline verifier (ecogate verify-qr) takes the JWS after "#". The
// size of a typical payload, its QR version and module size at 3 cm are
// measured by TestQRSize and recorded in docs/benchmarks.md.
//
// Encode and Decode make and read the QR symbol with
// github.com/makiuchi-d/gozxing (pure Go): Encode gives the module matrix
// (the PDF draws it as vector squares) or a PNG; Decode reads a PNG or
// any image.Image.
package qrsign
