-- Every treatment (preview of a whole database, backfill of a new unit).
-- Keyset pages by behandlingsnummer: the first page passes :after_nr = ''.
SELECT behandlingsnummer, enhet, personnummer, deltar_ej, akut, akut_prioritet,
       v310, v335, v410, v415, v420, v425, v430, v435, v440, v445, v450,
       v540, v565, v567, v570, v585, asa, operator_hsaid, v675, v676, v690,
       v800, v810, v875, andrad_tid
FROM spor_behandling
WHERE behandlingsnummer > :after_nr
ORDER BY behandlingsnummer
LIMIT :page_size
