-- ecogate schema on PostgreSQL, version 1: the same records as the bbolt
-- engine. Each record is kept whole as its JSON bytes (rec, exactly as encoded) beside the columns that
-- the queries and the unique constraints need.

-- +goose Up
CREATE TABLE blobs (
    hash    text PRIMARY KEY,
    content bytea NOT NULL
);

CREATE TABLE outbox (
    id           text PRIMARY KEY,
    seq          bigserial NOT NULL UNIQUE,
    partner      text NOT NULL,
    cert_number  text NOT NULL,
    version      integer NOT NULL,
    kind         text NOT NULL,
    state        text NOT NULL,
    pull         boolean NOT NULL,
    next_try     timestamptz NOT NULL,
    content_hash text NOT NULL REFERENCES blobs (hash),
    rec          bytea NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_try, id) WHERE NOT pull AND state IN ('queued', 'awaiting-retry', 'sending');
CREATE INDEX outbox_cert ON outbox (partner, cert_number, seq);
CREATE INDEX outbox_state ON outbox (state, partner, seq);

CREATE TABLE inbox (
    id           text PRIMARY KEY,
    seq          bigserial NOT NULL UNIQUE,
    sender       text NOT NULL,
    cert_number  text NOT NULL,
    version      integer NOT NULL,
    kind         text NOT NULL,
    outcome      text NOT NULL,
    content_hash text NOT NULL REFERENCES blobs (hash),
    rec          bytea NOT NULL
);
-- The second deduplication key: one message per sender, certificate,
-- version and kind (messages that could not be read have no number).
CREATE UNIQUE INDEX inbox_natural ON inbox (sender, cert_number, version, kind) WHERE cert_number <> '';
CREATE INDEX inbox_cert ON inbox (sender, cert_number, seq);
CREATE INDEX inbox_outcome ON inbox (outcome, seq);

CREATE TABLE cert_status (
    country text NOT NULL,
    number  text NOT NULL,
    version integer NOT NULL,
    rec     bytea NOT NULL,
    PRIMARY KEY (country, number, version)
);

CREATE TABLE issued (
    number text PRIMARY KEY,
    token  text NOT NULL UNIQUE,
    rec    bytea NOT NULL
);

CREATE TABLE issued_decisions (
    seq       bigserial PRIMARY KEY,
    sender    text NOT NULL,
    message_id text NOT NULL,
    number    text NOT NULL,
    rec       bytea NOT NULL,
    UNIQUE (sender, message_id)
);
CREATE INDEX issued_decisions_number ON issued_decisions (number, seq);

-- The audit chain: one chain, appends serialised by a row lock on
-- audit_head (SELECT ... FOR UPDATE) in the appending transaction.
CREATE TABLE audit (
    seq   bigint PRIMARY KEY,
    hash  text NOT NULL,
    entry bytea NOT NULL
);
CREATE TABLE audit_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit;
DROP TABLE issued_decisions;
DROP TABLE issued;
DROP TABLE cert_status;
DROP TABLE inbox;
DROP TABLE outbox;
DROP TABLE blobs;
