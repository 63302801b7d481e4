-- Treatments whose last-changed time (andrad_tid, Europe/Stockholm wall-clock) lies in
-- [:from_tid, :to_tid). The caller has already widened :from_tid by its overlap.
-- Keyset pages ordered by (andrad_tid, behandlingsnummer): the first page passes
-- :after_tid = :from_tid and :after_nr = '' ; later pages pass the last row's values.
SELECT behandlingsnummer, enhet, personnummer, deltar_ej, akut, akut_prioritet,
       v310, v335, v410, v415, v420, v425, v430, v435, v440, v445, v450,
       v540, v565, v567, v570, v585, asa, operator_hsaid, v675, v676, v690,
       v800, v810, v875, andrad_tid
FROM spor_behandling
WHERE andrad_tid >= :from_tid
  AND andrad_tid < :to_tid
  AND andrad_tid >= :after_tid  -- lets the index start at the page, not at the window
  AND (andrad_tid > :after_tid OR (andrad_tid = :after_tid AND behandlingsnummer > :after_nr))
ORDER BY andrad_tid, behandlingsnummer
LIMIT :page_size
