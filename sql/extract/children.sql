-- The repeated items of a set of treatments, as (behandlingsnummer, lista, ordning, kod).
-- lista names the list variable in plugins/spor/data/variables.csv (column "column").
-- :numbers is expanded to one bind parameter per value by spor.source.
SELECT behandlingsnummer,
       CASE typ WHEN 'preliminar' THEN 'preliminar_operationskod' ELSE 'operationskod' END AS lista,
       ordning, kod
FROM spor_operationskod WHERE behandlingsnummer IN (:numbers)
UNION ALL
SELECT behandlingsnummer, 'diagnos' AS lista, ordning, kod
FROM spor_diagnos WHERE behandlingsnummer IN (:numbers)
UNION ALL
SELECT behandlingsnummer, 'anestesiatgard' AS lista, ordning, kod
FROM spor_anestesiatgard WHERE behandlingsnummer IN (:numbers)
UNION ALL
SELECT behandlingsnummer,
       CASE fas WHEN 'perop' THEN 'perop_komplikation' ELSE 'postop_komplikation' END AS lista,
       ordning, kod
FROM spor_komplikation WHERE behandlingsnummer IN (:numbers)
ORDER BY 1, 2, 3
