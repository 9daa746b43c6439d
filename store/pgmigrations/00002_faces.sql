-- ecogate schema on PostgreSQL, version 2: what `ecogate serve` needs
-- beside the exchange: the customs face's state, the exact documents of
-- imported certificates, and the records of the domestic issuance
-- workflow. Records are kept whole as their JSON bytes, as in version 1.

-- +goose Up
CREATE TABLE cu_client (
    id  text PRIMARY KEY,
    rec bytea NOT NULL
);

-- based_on: inbox sequence the view was built from; -1 = built from a
-- verification-query answer (store.ViewFromQuery).
CREATE TABLE cu_view (
    country  text NOT NULL,
    number   text NOT NULL,
    based_on bigint NOT NULL,
    view     bytea NOT NULL,
    PRIMARY KEY (country, number)
);

CREATE TABLE cu_util (
    country text NOT NULL,
    number  text NOT NULL,
    item    integer NOT NULL,
    used    bigint NOT NULL,
    PRIMARY KEY (country, number, item)
);

CREATE TABLE cu_decl (
    country         text NOT NULL,
    number          text NOT NULL,
    declaration_ref text NOT NULL,
    rec             bytea NOT NULL,
    PRIMARY KEY (country, number, declaration_ref)
);

CREATE TABLE cu_query (
    country text NOT NULL,
    number  text NOT NULL,
    fetched timestamptz NOT NULL,
    answer  bytea NOT NULL,
    PRIMARY KEY (country, number)
);

-- Exact documents of certificates imported from a legacy platform, with
-- their idempotency record (info, JSON store.IssuedDoc).
CREATE TABLE issued_docs (
    number  text NOT NULL,
    version integer NOT NULL,
    info    bytea NOT NULL,
    doc     bytea NOT NULL,
    PRIMARY KEY (number, version)
);

-- The issuance workflow's records, with the bbolt engine's bucket and key
-- layout (store/issuance*.go): one row per bucket entry, keys compared
-- byte by byte as bbolt does.
CREATE TABLE isu_kv (
    bucket text NOT NULL,
    k      bytea NOT NULL,
    v      bytea NOT NULL,
    PRIMARY KEY (bucket, k)
);

-- +goose Down
DROP TABLE isu_kv;
DROP TABLE issued_docs;
DROP TABLE cu_query;
DROP TABLE cu_decl;
DROP TABLE cu_util;
DROP TABLE cu_view;
DROP TABLE cu_client;
