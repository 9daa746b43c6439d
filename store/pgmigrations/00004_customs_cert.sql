-- ecogate schema on PostgreSQL, version 4: customs clients that
-- authenticate with a client certificate (mutual TLS) instead of a secret.
-- cert_sha256 is the hex SHA-256 of the DER certificate of an active
-- client bound to one (store.CustomsClient.CertSHA256); it is cleared when
-- the client is revoked (the record in rec keeps it), so that no two active
-- clients hold the same certificate and a revoked client's certificate can
-- be bound again. bbolt keeps the same index in the bucket cu_client_cert.

-- +goose Up
ALTER TABLE cu_client ADD COLUMN cert_sha256 text;
CREATE UNIQUE INDEX cu_client_cert ON cu_client (cert_sha256) WHERE cert_sha256 IS NOT NULL;

-- +goose Down
DROP INDEX cu_client_cert;
ALTER TABLE cu_client DROP COLUMN cert_sha256;
