-- ecogate schema on PostgreSQL, version 5: a customs client may hold two
-- certificate bindings during a renewal (its current certificate and the
-- next one, store.CustomsClient.NextCertSHA256). The bindings in force
-- move from the column cu_client.cert_sha256 to their own table, so that
-- a certificate stays bound to at most one active client whichever of the
-- two it is; bbolt keeps the same index in the bucket cu_client_cert.
-- Existing clients keep their one binding.

-- +goose Up
DROP INDEX cu_client_cert; -- the name goes to the table
CREATE TABLE cu_client_cert (
    cert_sha256 text PRIMARY KEY,
    client_id   text NOT NULL REFERENCES cu_client (id)
);
INSERT INTO cu_client_cert (cert_sha256, client_id)
    SELECT cert_sha256, id FROM cu_client WHERE cert_sha256 IS NOT NULL;
CREATE INDEX cu_client_cert_client ON cu_client_cert (client_id);
ALTER TABLE cu_client DROP COLUMN cert_sha256;

-- +goose Down
-- A renewal in progress is dropped (its next certificate, binding and
-- record fields): version 4 holds one binding per client.
ALTER TABLE cu_client ADD COLUMN cert_sha256 text;
UPDATE cu_client c SET cert_sha256 = b.cert_sha256 FROM cu_client_cert b
    WHERE b.client_id = c.id AND b.cert_sha256 = convert_from(c.rec, 'UTF8')::jsonb ->> 'certSHA256';
UPDATE cu_client SET rec = convert_to((convert_from(rec, 'UTF8')::jsonb - 'nextCertSHA256' - 'nextCertSubject' - 'nextCertNotAfter')::text, 'UTF8')
    WHERE convert_from(rec, 'UTF8')::jsonb ? 'nextCertSHA256';
DROP TABLE cu_client_cert;
CREATE UNIQUE INDEX cu_client_cert ON cu_client (cert_sha256) WHERE cert_sha256 IS NOT NULL;
