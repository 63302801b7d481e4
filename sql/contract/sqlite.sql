-- Source contract, reference DDL for SQLite (docs/source-contract.md).
-- A site creates these as VIEWS over its OPS; the demo and the tests create them as tables.
-- Times are OPS wall-clock times in Europe/Stockholm, 'YYYY-MM-DD HH:MM:SS', no offset.
-- NULL always means "not recorded". Columns vNNN are SPOR variable NNN.

CREATE TABLE IF NOT EXISTS spor_behandling (
    behandlingsnummer   TEXT PRIMARY KEY,
    enhet               TEXT NOT NULL,              -- hospital unit; mapped to SystemId by configuration
    personnummer        TEXT,                       -- 12 digits as the OPS normalises it; may be a reservnummer
    deltar_ej           INTEGER NOT NULL DEFAULT 0, -- 1 = patient does not take part in SPOR
    akut                INTEGER,                    -- 1 acute, 0 elective
    akut_prioritet      TEXT,
    v310 TEXT, v335 TEXT,
    v410 TEXT, v415 TEXT, v420 TEXT, v425 TEXT, v430 TEXT, v435 TEXT,
    v440 TEXT, v445 TEXT, v450 INTEGER,
    v540 TEXT, v565 TEXT, v567 TEXT, v570 TEXT, v585 TEXT,
    asa TEXT, operator_hsaid TEXT,
    v675 REAL, v676 REAL, v690 TEXT,
    v800 TEXT, v810 TEXT, v875 REAL,
    andrad_tid          TEXT NOT NULL               -- last change of this row OR any of its child rows
);
CREATE INDEX IF NOT EXISTS ix_spor_behandling_andrad_tid ON spor_behandling (andrad_tid);

CREATE TABLE IF NOT EXISTS spor_operationskod (
    behandlingsnummer TEXT NOT NULL REFERENCES spor_behandling (behandlingsnummer),
    typ     TEXT NOT NULL CHECK (typ IN ('preliminar', 'utford')),
    ordning INTEGER NOT NULL,
    kod     TEXT NOT NULL,
    PRIMARY KEY (behandlingsnummer, typ, ordning)
);
CREATE TABLE IF NOT EXISTS spor_diagnos (
    behandlingsnummer TEXT NOT NULL REFERENCES spor_behandling (behandlingsnummer),
    ordning INTEGER NOT NULL,
    kod     TEXT NOT NULL,
    PRIMARY KEY (behandlingsnummer, ordning)
);
CREATE TABLE IF NOT EXISTS spor_anestesiatgard (
    behandlingsnummer TEXT NOT NULL REFERENCES spor_behandling (behandlingsnummer),
    ordning INTEGER NOT NULL,
    kod     TEXT NOT NULL,
    PRIMARY KEY (behandlingsnummer, ordning)
);
CREATE TABLE IF NOT EXISTS spor_komplikation (
    behandlingsnummer TEXT NOT NULL REFERENCES spor_behandling (behandlingsnummer),
    fas     TEXT NOT NULL CHECK (fas IN ('perop', 'postop')),
    ordning INTEGER NOT NULL,
    kod     TEXT NOT NULL,
    PRIMARY KEY (behandlingsnummer, fas, ordning)
);

-- Opt-out block list (R11): behandlingsnummer NULL blocks the whole patient.
CREATE TABLE IF NOT EXISTS spor_sparrlista (
    id                INTEGER PRIMARY KEY,
    personnummer      TEXT NOT NULL,               -- 12 digits, normalised like spor_behandling.personnummer
    behandlingsnummer TEXT,                        -- NULL = every treatment of the patient
    orsak             TEXT NOT NULL,               -- e.g. 'patientens begäran', 'skickad av misstag'
    kanal             TEXT NOT NULL,               -- how the staff learned of the wish
    datum             TEXT NOT NULL                -- date of the entry, YYYY-MM-DD
);
