-- The opt-out block list (R11). Read in full: it is small, and a partial read must never
-- pass for a complete one.
SELECT id, personnummer, behandlingsnummer, orsak, kanal, datum
FROM spor_sparrlista
ORDER BY id
