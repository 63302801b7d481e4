-- Source contract, reference DDL for MariaDB and MySQL (docs/source-contract.md). Same contract as
-- sqlite.sql and postgresql.sql: a site creates these as VIEWS over its OPS; the demo and the
-- tests create tables. Tested on MariaDB 10.11; written for MySQL 8 as well (no MariaDB-only
-- syntax). Times are OPS wall-clock times in Europe/Stockholm: DATETIME, no offset.
-- NULL always means "not recorded". Columns vNNN are SPOR variable NNN.
-- Objects are created in the connection's current database (tests use one database per test).
--
-- Every statement ends with ';' at the end of a line and no trigger has a BEGIN..END body, so
-- a plain statement splitter applies the file one statement at a time (DELIMITER is a client
-- command, not SQL). Binary collation: keys compare and sort as the other databases and Python
-- compare them, and 'b1' and 'B1' stay two treatments.

CREATE TABLE IF NOT EXISTS spor_behandling (
    behandlingsnummer   VARCHAR(64) NOT NULL PRIMARY KEY,
    enhet               VARCHAR(64) NOT NULL,        -- hospital unit; mapped to SystemId by configuration
    personnummer        VARCHAR(32),                 -- 12 digits as the OPS normalises it; may be a reservnummer
    deltar_ej           INTEGER NOT NULL DEFAULT 0,  -- 1 = patient does not take part in SPOR
    akut                INTEGER,                     -- 1 acute, 0 elective
    akut_prioritet      VARCHAR(64),
    v310 DATETIME, v335 VARCHAR(64),
    v410 DATETIME, v415 DATETIME, v420 DATETIME, v425 DATETIME, v430 DATETIME, v435 DATETIME,
    v440 VARCHAR(64), v445 VARCHAR(64), v450 INTEGER,
    v540 DATETIME, v565 DATETIME, v567 DATETIME, v570 DATETIME, v585 DATETIME,
    asa VARCHAR(8), operator_hsaid VARCHAR(64),
    v675 DECIMAL(4, 1), v676 DECIMAL(4, 1), v690 VARCHAR(64),
    v800 DATETIME, v810 VARCHAR(64), v875 DECIMAL(4, 1),
    -- last change of this row OR any of its child rows, Europe/Stockholm wall-clock
    andrad_tid          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX ix_spor_behandling_andrad_tid (andrad_tid, behandlingsnummer)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS spor_operationskod (
    behandlingsnummer VARCHAR(64) NOT NULL,
    typ     VARCHAR(16) NOT NULL CHECK (typ IN ('preliminar', 'utford')),
    ordning INTEGER NOT NULL,
    kod     VARCHAR(64) NOT NULL,
    PRIMARY KEY (behandlingsnummer, typ, ordning),
    FOREIGN KEY (behandlingsnummer) REFERENCES spor_behandling (behandlingsnummer) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS spor_diagnos (
    behandlingsnummer VARCHAR(64) NOT NULL,
    ordning INTEGER NOT NULL,
    kod     VARCHAR(64) NOT NULL,
    PRIMARY KEY (behandlingsnummer, ordning),
    FOREIGN KEY (behandlingsnummer) REFERENCES spor_behandling (behandlingsnummer) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS spor_anestesiatgard (
    behandlingsnummer VARCHAR(64) NOT NULL,
    ordning INTEGER NOT NULL,
    kod     VARCHAR(64) NOT NULL,
    PRIMARY KEY (behandlingsnummer, ordning),
    FOREIGN KEY (behandlingsnummer) REFERENCES spor_behandling (behandlingsnummer) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS spor_komplikation (
    behandlingsnummer VARCHAR(64) NOT NULL,
    fas     VARCHAR(16) NOT NULL CHECK (fas IN ('perop', 'postop')),
    ordning INTEGER NOT NULL,
    kod     VARCHAR(64) NOT NULL,
    PRIMARY KEY (behandlingsnummer, fas, ordning),
    FOREIGN KEY (behandlingsnummer) REFERENCES spor_behandling (behandlingsnummer) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Opt-out block list (R11): behandlingsnummer NULL blocks the whole patient.
CREATE TABLE IF NOT EXISTS spor_sparrlista (
    id                INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
    personnummer      VARCHAR(32) NOT NULL,        -- 12 digits, normalised like spor_behandling.personnummer
    behandlingsnummer VARCHAR(64),                 -- NULL = every treatment of the patient
    orsak             VARCHAR(255) NOT NULL,       -- e.g. 'patientens begäran', 'skickad av misstag'
    kanal             VARCHAR(255) NOT NULL,       -- how the staff learned of the wish
    datum             DATE NOT NULL,               -- date of the entry
    INDEX ix_spor_sparrlista_personnummer (personnummer)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- ---------------------------------------------------------------------------------------------
-- Last-changed rule: andrad_tid moves when the treatment row changes and when any of its child
-- rows is inserted, updated or deleted.
--
-- CURRENT_TIMESTAMP(6) is the start of the writing statement (not of its transaction) in the
-- time zone of the writing session (@@time_zone, by default the server's system zone): run the
-- server with TZ=Europe/Stockholm or default_time_zone = 'Europe/Stockholm', as SQLite needs
-- TZ for 'localtime'. The extraction overlap must still exceed the longest OPS write
-- transaction (docs/source-contract.md).
--
-- There is no UPDATE OF <columns> and no FOR EACH STATEMENT here: the row trigger fires on
-- every UPDATE and stamps only when a data column changed and andrad_tid did not, so an UPDATE
-- that sets andrad_tid itself keeps the given value (bulk loads and the synthetic generator
-- rely on that) and the child triggers' updates, which set only andrad_tid, keep theirs.
-- Cascaded deletes do not fire triggers (InnoDB), so deleting a treatment touches nothing.
-- ---------------------------------------------------------------------------------------------
DROP TRIGGER IF EXISTS spor_behandling_touch;
CREATE TRIGGER spor_behandling_touch BEFORE UPDATE ON spor_behandling FOR EACH ROW
SET NEW.andrad_tid = IF(
    NEW.andrad_tid <=> OLD.andrad_tid AND NOT (
        NEW.behandlingsnummer <=> OLD.behandlingsnummer AND NEW.enhet <=> OLD.enhet
        AND NEW.personnummer <=> OLD.personnummer AND NEW.deltar_ej <=> OLD.deltar_ej
        AND NEW.akut <=> OLD.akut AND NEW.akut_prioritet <=> OLD.akut_prioritet
        AND NEW.v310 <=> OLD.v310 AND NEW.v335 <=> OLD.v335 AND NEW.v410 <=> OLD.v410
        AND NEW.v415 <=> OLD.v415 AND NEW.v420 <=> OLD.v420 AND NEW.v425 <=> OLD.v425
        AND NEW.v430 <=> OLD.v430 AND NEW.v435 <=> OLD.v435 AND NEW.v440 <=> OLD.v440
        AND NEW.v445 <=> OLD.v445 AND NEW.v450 <=> OLD.v450 AND NEW.v540 <=> OLD.v540
        AND NEW.v565 <=> OLD.v565 AND NEW.v567 <=> OLD.v567 AND NEW.v570 <=> OLD.v570
        AND NEW.v585 <=> OLD.v585 AND NEW.asa <=> OLD.asa AND NEW.operator_hsaid <=> OLD.operator_hsaid
        AND NEW.v675 <=> OLD.v675 AND NEW.v676 <=> OLD.v676 AND NEW.v690 <=> OLD.v690
        AND NEW.v800 <=> OLD.v800 AND NEW.v810 <=> OLD.v810 AND NEW.v875 <=> OLD.v875),
    CURRENT_TIMESTAMP(6), NEW.andrad_tid);

DROP TRIGGER IF EXISTS spor_operationskod_ins;
CREATE TRIGGER spor_operationskod_ins AFTER INSERT ON spor_operationskod FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer = NEW.behandlingsnummer;
DROP TRIGGER IF EXISTS spor_operationskod_upd;
CREATE TRIGGER spor_operationskod_upd AFTER UPDATE ON spor_operationskod FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer IN (NEW.behandlingsnummer, OLD.behandlingsnummer);
DROP TRIGGER IF EXISTS spor_operationskod_del;
CREATE TRIGGER spor_operationskod_del AFTER DELETE ON spor_operationskod FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer = OLD.behandlingsnummer;

DROP TRIGGER IF EXISTS spor_diagnos_ins;
CREATE TRIGGER spor_diagnos_ins AFTER INSERT ON spor_diagnos FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer = NEW.behandlingsnummer;
DROP TRIGGER IF EXISTS spor_diagnos_upd;
CREATE TRIGGER spor_diagnos_upd AFTER UPDATE ON spor_diagnos FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer IN (NEW.behandlingsnummer, OLD.behandlingsnummer);
DROP TRIGGER IF EXISTS spor_diagnos_del;
CREATE TRIGGER spor_diagnos_del AFTER DELETE ON spor_diagnos FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer = OLD.behandlingsnummer;

DROP TRIGGER IF EXISTS spor_anestesiatgard_ins;
CREATE TRIGGER spor_anestesiatgard_ins AFTER INSERT ON spor_anestesiatgard FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer = NEW.behandlingsnummer;
DROP TRIGGER IF EXISTS spor_anestesiatgard_upd;
CREATE TRIGGER spor_anestesiatgard_upd AFTER UPDATE ON spor_anestesiatgard FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer IN (NEW.behandlingsnummer, OLD.behandlingsnummer);
DROP TRIGGER IF EXISTS spor_anestesiatgard_del;
CREATE TRIGGER spor_anestesiatgard_del AFTER DELETE ON spor_anestesiatgard FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer = OLD.behandlingsnummer;

DROP TRIGGER IF EXISTS spor_komplikation_ins;
CREATE TRIGGER spor_komplikation_ins AFTER INSERT ON spor_komplikation FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer = NEW.behandlingsnummer;
DROP TRIGGER IF EXISTS spor_komplikation_upd;
CREATE TRIGGER spor_komplikation_upd AFTER UPDATE ON spor_komplikation FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer IN (NEW.behandlingsnummer, OLD.behandlingsnummer);
DROP TRIGGER IF EXISTS spor_komplikation_del;
CREATE TRIGGER spor_komplikation_del AFTER DELETE ON spor_komplikation FOR EACH ROW
UPDATE spor_behandling SET andrad_tid = CURRENT_TIMESTAMP(6)
WHERE behandlingsnummer = OLD.behandlingsnummer;
