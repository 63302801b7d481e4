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
                        DEFAULT (strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime'))
);
CREATE INDEX IF NOT EXISTS ix_spor_behandling_andrad_tid ON spor_behandling (andrad_tid, behandlingsnummer);

CREATE TABLE IF NOT EXISTS spor_operationskod (
    behandlingsnummer TEXT NOT NULL REFERENCES spor_behandling (behandlingsnummer) ON DELETE CASCADE,
    typ     TEXT NOT NULL CHECK (typ IN ('preliminar', 'utford')),
    ordning INTEGER NOT NULL,
    kod     TEXT NOT NULL,
    PRIMARY KEY (behandlingsnummer, typ, ordning)
);
CREATE TABLE IF NOT EXISTS spor_diagnos (
    behandlingsnummer TEXT NOT NULL REFERENCES spor_behandling (behandlingsnummer) ON DELETE CASCADE,
    ordning INTEGER NOT NULL,
    kod     TEXT NOT NULL,
    PRIMARY KEY (behandlingsnummer, ordning)
);
CREATE TABLE IF NOT EXISTS spor_anestesiatgard (
    behandlingsnummer TEXT NOT NULL REFERENCES spor_behandling (behandlingsnummer) ON DELETE CASCADE,
    ordning INTEGER NOT NULL,
    kod     TEXT NOT NULL,
    PRIMARY KEY (behandlingsnummer, ordning)
);
CREATE TABLE IF NOT EXISTS spor_komplikation (
    behandlingsnummer TEXT NOT NULL REFERENCES spor_behandling (behandlingsnummer) ON DELETE CASCADE,
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
CREATE INDEX IF NOT EXISTS ix_spor_sparrlista_personnummer ON spor_sparrlista (personnummer);

-- ---------------------------------------------------------------------------------------------
-- Last-changed rule: andrad_tid moves when the treatment row changes and when any of its child
-- rows is inserted, updated or deleted. A site with views computes the same thing, e.g.
-- max(treatment.changed, max(child.changed), last delete of a child) in its view.
--
-- 'localtime' is the time zone of the process that writes (run the OPS side with
-- TZ=Europe/Stockholm). The triggers are safe whether PRAGMA recursive_triggers is off (the
-- default) or on: the row trigger listens only to data columns (UPDATE OF ...) and the updates
-- below set only andrad_tid, so nothing fires twice. An UPDATE that sets andrad_tid itself keeps
-- the given value (bulk loads and the synthetic generator rely on that).
-- ---------------------------------------------------------------------------------------------
CREATE TRIGGER IF NOT EXISTS spor_behandling_touch
AFTER UPDATE OF behandlingsnummer, enhet, personnummer, deltar_ej, akut, akut_prioritet, v310, v335, v410, v415, v420, v425, v430, v435, v440, v445, v450, v540, v565, v567, v570, v585, asa, operator_hsaid, v675, v676, v690, v800, v810, v875 ON spor_behandling
FOR EACH ROW WHEN NEW.andrad_tid IS OLD.andrad_tid
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = NEW.behandlingsnummer;
END;

CREATE TRIGGER IF NOT EXISTS spor_operationskod_ins AFTER INSERT ON spor_operationskod FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = NEW.behandlingsnummer;
END;
CREATE TRIGGER IF NOT EXISTS spor_operationskod_upd AFTER UPDATE ON spor_operationskod FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer IN (NEW.behandlingsnummer, OLD.behandlingsnummer);
END;
CREATE TRIGGER IF NOT EXISTS spor_operationskod_del AFTER DELETE ON spor_operationskod FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = OLD.behandlingsnummer;
END;

CREATE TRIGGER IF NOT EXISTS spor_diagnos_ins AFTER INSERT ON spor_diagnos FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = NEW.behandlingsnummer;
END;
CREATE TRIGGER IF NOT EXISTS spor_diagnos_upd AFTER UPDATE ON spor_diagnos FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer IN (NEW.behandlingsnummer, OLD.behandlingsnummer);
END;
CREATE TRIGGER IF NOT EXISTS spor_diagnos_del AFTER DELETE ON spor_diagnos FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = OLD.behandlingsnummer;
END;

CREATE TRIGGER IF NOT EXISTS spor_anestesiatgard_ins AFTER INSERT ON spor_anestesiatgard FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = NEW.behandlingsnummer;
END;
CREATE TRIGGER IF NOT EXISTS spor_anestesiatgard_upd AFTER UPDATE ON spor_anestesiatgard FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer IN (NEW.behandlingsnummer, OLD.behandlingsnummer);
END;
CREATE TRIGGER IF NOT EXISTS spor_anestesiatgard_del AFTER DELETE ON spor_anestesiatgard FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = OLD.behandlingsnummer;
END;

CREATE TRIGGER IF NOT EXISTS spor_komplikation_ins AFTER INSERT ON spor_komplikation FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = NEW.behandlingsnummer;
END;
CREATE TRIGGER IF NOT EXISTS spor_komplikation_upd AFTER UPDATE ON spor_komplikation FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer IN (NEW.behandlingsnummer, OLD.behandlingsnummer);
END;
CREATE TRIGGER IF NOT EXISTS spor_komplikation_del AFTER DELETE ON spor_komplikation FOR EACH ROW
BEGIN
    UPDATE spor_behandling SET andrad_tid = strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime')
    WHERE behandlingsnummer = OLD.behandlingsnummer;
END;
