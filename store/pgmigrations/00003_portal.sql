-- ecogate schema on PostgreSQL, version 3: the web portal's logins and
-- sessions (store.PGPortal), so that listen.portal runs on every replica.
-- Records are kept whole as their JSON bytes, as in the bbolt buckets
-- portal_user and portal_session; a session is keyed by the SHA-256 of its
-- id (a copy of the database gives no usable session). The portal's
-- signature and stamp images live in isu_kv (buckets isu_image and
-- isu_image_data), beside the other issuance records.

-- +goose Up
CREATE TABLE portal_user (
    name text PRIMARY KEY,
    rec  bytea NOT NULL
);

CREATE TABLE portal_session (
    k       bytea PRIMARY KEY,
    expires timestamptz NOT NULL,
    rec     bytea NOT NULL
);

CREATE INDEX portal_session_expires ON portal_session (expires);

-- +goose Down
DROP TABLE portal_session;
DROP TABLE portal_user;
