-- Treatments whose treatment date lies in [:from_day, :to_day), optionally of one unit
-- (:enhet NULL = every unit). Treatment date = operation start if performed, else patient time
-- start, else planned operation/patient start, else the request time.
-- Keyset pages by behandlingsnummer: the first page passes :after_nr = ''.
-- The CAST gives the NULL test a parameter type (PostgreSQL needs one); CHAR because MySQL casts
-- to CHAR but not to VARCHAR.
SELECT behandlingsnummer, enhet, personnummer, deltar_ej, akut, akut_prioritet,
       v310, v335, v410, v415, v420, v425, v430, v435, v440, v445, v450,
       v540, v565, v567, v570, v585, asa, operator_hsaid, v675, v676, v690,
       v800, v810, v875, andrad_tid
FROM spor_behandling
WHERE COALESCE(v565, v540, v420, v415, v310) >= :from_day
  AND COALESCE(v565, v540, v420, v415, v310) < :to_day
  AND (CAST(:enhet AS CHAR(64)) IS NULL OR enhet = :enhet)
  AND behandlingsnummer > :after_nr
ORDER BY behandlingsnummer
LIMIT :page_size
