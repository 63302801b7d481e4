-- A state database made by the last release before Alembic (schema version 3), one or two rows
-- per table; pg_dump of schema spor_legacy_fixture (tests load it under a schema of their own).
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;
CREATE SCHEMA spor_legacy_fixture;
SET default_tablespace = '';
SET default_table_access_method = heap;
CREATE TABLE spor_legacy_fixture.spor_batch (
    id integer NOT NULL,
    run_id character varying(250) NOT NULL,
    environment character varying(32) NOT NULL,
    number integer NOT NULL,
    size integer NOT NULL,
    planned_at timestamp without time zone NOT NULL,
    claimed_at timestamp without time zone,
    heartbeat_at timestamp without time zone NOT NULL,
    finished_at timestamp without time zone
);
CREATE SEQUENCE spor_legacy_fixture.spor_batch_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE spor_legacy_fixture.spor_batch_id_seq OWNED BY spor_legacy_fixture.spor_batch.id;
CREATE TABLE spor_legacy_fixture.spor_extracted (
    run_id character varying(250) NOT NULL,
    behandlingsnummer character varying(64) NOT NULL,
    payload text NOT NULL
);
CREATE TABLE spor_legacy_fixture.spor_held_back (
    id integer NOT NULL,
    run_id character varying(250) NOT NULL,
    environment character varying(32),
    system_id character varying(64),
    behandlingsnummer character varying(64) NOT NULL,
    state character varying(32) NOT NULL,
    rule character varying(64),
    variable character varying(64),
    reason text,
    recorded_at timestamp without time zone NOT NULL
);
CREATE SEQUENCE spor_legacy_fixture.spor_held_back_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE spor_legacy_fixture.spor_held_back_id_seq OWNED BY spor_legacy_fixture.spor_held_back.id;
CREATE TABLE spor_legacy_fixture.spor_last_final (
    environment character varying(32) NOT NULL,
    system_id character varying(64) NOT NULL,
    behandlingsnummer character varying(64) NOT NULL,
    state character varying(32) NOT NULL,
    content_hash character varying(128) NOT NULL,
    answered_at timestamp without time zone NOT NULL,
    run_id character varying(250) NOT NULL,
    ledger_id integer
);
CREATE TABLE spor_legacy_fixture.spor_ledger (
    id integer NOT NULL,
    run_id character varying(250) NOT NULL,
    batch_id integer,
    outbox_id integer,
    environment character varying(32) NOT NULL,
    system_id character varying(64) NOT NULL,
    behandlingsnummer character varying(64) NOT NULL,
    content_hash character varying(128) NOT NULL,
    attempt integer NOT NULL,
    outcome character varying(32),
    result_code character varying(32),
    result_text text,
    fault_type character varying(200),
    fault_rule character varying(200),
    http_status integer,
    elapsed_s double precision,
    sent_at timestamp without time zone NOT NULL,
    answered_at timestamp without time zone
);
CREATE SEQUENCE spor_legacy_fixture.spor_ledger_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE spor_legacy_fixture.spor_ledger_id_seq OWNED BY spor_legacy_fixture.spor_ledger.id;
CREATE TABLE spor_legacy_fixture.spor_outbox (
    id integer NOT NULL,
    environment character varying(32) NOT NULL,
    system_id character varying(64) NOT NULL,
    behandlingsnummer character varying(64) NOT NULL,
    payload bytea NOT NULL,
    content_hash character varying(128) NOT NULL,
    state character varying(32) NOT NULL,
    wait_reason character varying(32) NOT NULL,
    priority integer NOT NULL,
    waiting_since timestamp without time zone NOT NULL,
    staged_at timestamp without time zone NOT NULL,
    staged_run_id character varying(250) NOT NULL,
    run_id character varying(250),
    batch_id integer,
    attempts integer NOT NULL,
    last_attempt_at timestamp without time zone
);
CREATE SEQUENCE spor_legacy_fixture.spor_outbox_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE spor_legacy_fixture.spor_outbox_id_seq OWNED BY spor_legacy_fixture.spor_outbox.id;
CREATE TABLE spor_legacy_fixture.spor_removal_item (
    request_id integer NOT NULL,
    system_id character varying(64) NOT NULL,
    behandlingsnummer character varying(64) NOT NULL,
    environment character varying(32) NOT NULL,
    in_text boolean NOT NULL,
    added_at timestamp without time zone NOT NULL,
    added_run_id character varying(250) NOT NULL
);
CREATE TABLE spor_legacy_fixture.spor_removal_request (
    id integer NOT NULL,
    cause character varying(16) NOT NULL,
    source_key character varying(64) NOT NULL,
    environment character varying(32) NOT NULL,
    scope character varying(16) NOT NULL,
    orsak text,
    kanal text,
    datum character varying(32),
    system_ids text NOT NULL,
    subject text NOT NULL,
    text text NOT NULL,
    status character varying(16) NOT NULL,
    raised_at timestamp without time zone NOT NULL,
    raised_run_id character varying(250) NOT NULL,
    sent_at timestamp without time zone,
    sent_to text,
    confirmed_at timestamp without time zone,
    note text
);
CREATE SEQUENCE spor_legacy_fixture.spor_removal_request_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE spor_legacy_fixture.spor_removal_request_id_seq OWNED BY spor_legacy_fixture.spor_removal_request.id;
CREATE TABLE spor_legacy_fixture.spor_report (
    run_id character varying(250) NOT NULL,
    kind character varying(40) NOT NULL,
    content_type character varying(40) NOT NULL,
    body text NOT NULL,
    created_at timestamp without time zone NOT NULL
);
CREATE TABLE spor_legacy_fixture.spor_run_event (
    id integer NOT NULL,
    run_id character varying(250) NOT NULL,
    task character varying(100) NOT NULL,
    kind character varying(40) NOT NULL,
    message text NOT NULL,
    data_json text,
    at timestamp without time zone NOT NULL
);
CREATE SEQUENCE spor_legacy_fixture.spor_run_event_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE spor_legacy_fixture.spor_run_event_id_seq OWNED BY spor_legacy_fixture.spor_run_event.id;
CREATE TABLE spor_legacy_fixture.spor_run_summary (
    run_id character varying(250) NOT NULL,
    summary_json text NOT NULL,
    updated_at timestamp without time zone NOT NULL
);
CREATE TABLE spor_legacy_fixture.spor_schema_version (
    version integer NOT NULL,
    applied_at timestamp without time zone NOT NULL
);
CREATE SEQUENCE spor_legacy_fixture.spor_schema_version_version_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE spor_legacy_fixture.spor_schema_version_version_seq OWNED BY spor_legacy_fixture.spor_schema_version.version;
CREATE TABLE spor_legacy_fixture.spor_stage_log (
    id integer NOT NULL,
    run_id character varying(250) NOT NULL,
    environment character varying(32) NOT NULL,
    staged integer NOT NULL,
    unchanged integer NOT NULL,
    already_waiting integer NOT NULL,
    at timestamp without time zone NOT NULL
);
CREATE SEQUENCE spor_legacy_fixture.spor_stage_log_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE spor_legacy_fixture.spor_stage_log_id_seq OWNED BY spor_legacy_fixture.spor_stage_log.id;
CREATE TABLE spor_legacy_fixture.spor_watermark (
    name character varying(200) NOT NULL,
    value character varying(64) NOT NULL,
    run_id character varying(250),
    updated_at timestamp without time zone NOT NULL
);
ALTER TABLE ONLY spor_legacy_fixture.spor_batch ALTER COLUMN id SET DEFAULT nextval('spor_legacy_fixture.spor_batch_id_seq'::regclass);
ALTER TABLE ONLY spor_legacy_fixture.spor_held_back ALTER COLUMN id SET DEFAULT nextval('spor_legacy_fixture.spor_held_back_id_seq'::regclass);
ALTER TABLE ONLY spor_legacy_fixture.spor_ledger ALTER COLUMN id SET DEFAULT nextval('spor_legacy_fixture.spor_ledger_id_seq'::regclass);
ALTER TABLE ONLY spor_legacy_fixture.spor_outbox ALTER COLUMN id SET DEFAULT nextval('spor_legacy_fixture.spor_outbox_id_seq'::regclass);
ALTER TABLE ONLY spor_legacy_fixture.spor_removal_request ALTER COLUMN id SET DEFAULT nextval('spor_legacy_fixture.spor_removal_request_id_seq'::regclass);
ALTER TABLE ONLY spor_legacy_fixture.spor_run_event ALTER COLUMN id SET DEFAULT nextval('spor_legacy_fixture.spor_run_event_id_seq'::regclass);
ALTER TABLE ONLY spor_legacy_fixture.spor_schema_version ALTER COLUMN version SET DEFAULT nextval('spor_legacy_fixture.spor_schema_version_version_seq'::regclass);
ALTER TABLE ONLY spor_legacy_fixture.spor_stage_log ALTER COLUMN id SET DEFAULT nextval('spor_legacy_fixture.spor_stage_log_id_seq'::regclass);
INSERT INTO spor_legacy_fixture.spor_batch VALUES (1, 'scheduled__2025-12-01T00:30:00+00:00', 'stage', 1, 1, '2025-12-01 00:30:00', '2025-12-01 00:30:00', '2025-12-01 00:30:00', '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_extracted VALUES ('scheduled__2025-12-01T00:30:00+00:00', '3000004', '{"row": {}, "children": {}}');
INSERT INTO spor_legacy_fixture.spor_held_back VALUES (1, 'scheduled__2025-12-01T00:30:00+00:00', 'stage', NULL, '3000003', 'quarantined', 'D18', 'V310', 'time not parseable', '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_last_final VALUES ('stage', 'SE2321000016-A1', '3000002', 'created', 'h2', '2025-12-01 00:30:00', 'scheduled__2025-12-01T00:30:00+00:00', 1);
INSERT INTO spor_legacy_fixture.spor_ledger VALUES (1, 'scheduled__2025-12-01T00:30:00+00:00', 1, NULL, 'stage', 'SE2321000016-A1', '3000002', 'h2', 1, 'created', 'OK', 'Skapade', NULL, NULL, 200, 0.05, '2025-12-01 00:30:00', '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_outbox VALUES (1, 'stage', 'SE2321000016-A1', '3000001', '\x3c726567697374726572696e672f3e', 'h1', 'waiting', 'new', 0, '2025-12-01 00:30:00', '2025-12-01 00:30:00', 'scheduled__2025-12-01T00:30:00+00:00', NULL, NULL, 0, NULL);
INSERT INTO spor_legacy_fixture.spor_removal_item VALUES (1, 'SE2321000016-A1', '3000002', 'stage', true, '2025-12-01 00:30:00', 'scheduled__2025-12-01T00:30:00+00:00');
INSERT INTO spor_legacy_fixture.spor_removal_request VALUES (1, 'deleted', '3000002', 'stage', 'treatment', NULL, NULL, NULL, 'SE2321000016-A1', 'Borttag', 'Behandlingsnummer 3000002', 'raised', '2025-12-01 00:30:00', 'scheduled__2025-12-01T00:30:00+00:00', NULL, NULL, NULL, NULL);
INSERT INTO spor_legacy_fixture.spor_report VALUES ('scheduled__2025-12-01T00:30:00+00:00', 'quality', 'text/html', '<!doctype html><p>quality</p>', '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_run_event VALUES (1, 'scheduled__2025-12-01T00:30:00+00:00', 'plan_batches', 'capacity', 'fits the window', NULL, '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_run_summary VALUES ('scheduled__2025-12-01T00:30:00+00:00', '{"counts": {"created": 1}}', '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_run_summary VALUES ('manual__2025-12-01T08:00:00+00:00', '{"counts": {}}', '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_schema_version VALUES (1, '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_schema_version VALUES (2, '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_schema_version VALUES (3, '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_stage_log VALUES (1, 'scheduled__2025-12-01T00:30:00+00:00', 'stage', 2, 0, 0, '2025-12-01 00:30:00');
INSERT INTO spor_legacy_fixture.spor_watermark VALUES ('spor_nightly.andrad_tid', '2025-11-30 23:59:59', 'scheduled__2025-12-01T00:30:00+00:00', '2025-12-01 00:30:00');
SELECT pg_catalog.setval('spor_legacy_fixture.spor_batch_id_seq', 1, false);
SELECT pg_catalog.setval('spor_legacy_fixture.spor_held_back_id_seq', 1, false);
SELECT pg_catalog.setval('spor_legacy_fixture.spor_ledger_id_seq', 1, false);
SELECT pg_catalog.setval('spor_legacy_fixture.spor_outbox_id_seq', 1, false);
SELECT pg_catalog.setval('spor_legacy_fixture.spor_removal_request_id_seq', 1, false);
SELECT pg_catalog.setval('spor_legacy_fixture.spor_run_event_id_seq', 1, false);
SELECT pg_catalog.setval('spor_legacy_fixture.spor_schema_version_version_seq', 1, false);
SELECT pg_catalog.setval('spor_legacy_fixture.spor_stage_log_id_seq', 1, false);
ALTER TABLE ONLY spor_legacy_fixture.spor_batch
    ADD CONSTRAINT spor_batch_pkey PRIMARY KEY (id);
ALTER TABLE ONLY spor_legacy_fixture.spor_extracted
    ADD CONSTRAINT spor_extracted_pkey PRIMARY KEY (run_id, behandlingsnummer);
ALTER TABLE ONLY spor_legacy_fixture.spor_held_back
    ADD CONSTRAINT spor_held_back_pkey PRIMARY KEY (id);
ALTER TABLE ONLY spor_legacy_fixture.spor_last_final
    ADD CONSTRAINT spor_last_final_pkey PRIMARY KEY (environment, system_id, behandlingsnummer);
ALTER TABLE ONLY spor_legacy_fixture.spor_ledger
    ADD CONSTRAINT spor_ledger_pkey PRIMARY KEY (id);
ALTER TABLE ONLY spor_legacy_fixture.spor_outbox
    ADD CONSTRAINT spor_outbox_pkey PRIMARY KEY (id);
ALTER TABLE ONLY spor_legacy_fixture.spor_removal_item
    ADD CONSTRAINT spor_removal_item_pkey PRIMARY KEY (request_id, system_id, behandlingsnummer);
ALTER TABLE ONLY spor_legacy_fixture.spor_removal_request
    ADD CONSTRAINT spor_removal_request_pkey PRIMARY KEY (id);
ALTER TABLE ONLY spor_legacy_fixture.spor_report
    ADD CONSTRAINT spor_report_pkey PRIMARY KEY (run_id, kind);
ALTER TABLE ONLY spor_legacy_fixture.spor_run_event
    ADD CONSTRAINT spor_run_event_pkey PRIMARY KEY (id);
ALTER TABLE ONLY spor_legacy_fixture.spor_run_summary
    ADD CONSTRAINT spor_run_summary_pkey PRIMARY KEY (run_id);
ALTER TABLE ONLY spor_legacy_fixture.spor_schema_version
    ADD CONSTRAINT spor_schema_version_pkey PRIMARY KEY (version);
ALTER TABLE ONLY spor_legacy_fixture.spor_stage_log
    ADD CONSTRAINT spor_stage_log_pkey PRIMARY KEY (id);
ALTER TABLE ONLY spor_legacy_fixture.spor_watermark
    ADD CONSTRAINT spor_watermark_pkey PRIMARY KEY (name);
ALTER TABLE ONLY spor_legacy_fixture.spor_outbox
    ADD CONSTRAINT uq_spor_outbox_key UNIQUE (environment, system_id, behandlingsnummer);
ALTER TABLE ONLY spor_legacy_fixture.spor_removal_request
    ADD CONSTRAINT uq_spor_removal_request_key UNIQUE (cause, source_key, environment);
CREATE INDEX ix_spor_batch_run ON spor_legacy_fixture.spor_batch USING btree (run_id);
CREATE INDEX ix_spor_held_back_run ON spor_legacy_fixture.spor_held_back USING btree (run_id);
CREATE INDEX ix_spor_ledger_key ON spor_legacy_fixture.spor_ledger USING btree (environment, behandlingsnummer);
CREATE INDEX ix_spor_ledger_latency ON spor_legacy_fixture.spor_ledger USING btree (environment, answered_at);
CREATE INDEX ix_spor_ledger_run ON spor_legacy_fixture.spor_ledger USING btree (run_id, answered_at);
CREATE INDEX ix_spor_outbox_batch ON spor_legacy_fixture.spor_outbox USING btree (batch_id);
CREATE INDEX ix_spor_outbox_order ON spor_legacy_fixture.spor_outbox USING btree (environment, batch_id, priority, waiting_since, behandlingsnummer);
CREATE INDEX ix_spor_removal_item_key ON spor_legacy_fixture.spor_removal_item USING btree (environment, behandlingsnummer);
CREATE INDEX ix_spor_removal_request_run ON spor_legacy_fixture.spor_removal_request USING btree (raised_run_id);
CREATE INDEX ix_spor_removal_request_status ON spor_legacy_fixture.spor_removal_request USING btree (status);
CREATE INDEX ix_spor_run_event_run_id ON spor_legacy_fixture.spor_run_event USING btree (run_id);
CREATE INDEX ix_spor_stage_log_run ON spor_legacy_fixture.spor_stage_log USING btree (run_id);
ALTER TABLE ONLY spor_legacy_fixture.spor_removal_item
    ADD CONSTRAINT spor_removal_item_request_id_fkey FOREIGN KEY (request_id) REFERENCES spor_legacy_fixture.spor_removal_request(id);
