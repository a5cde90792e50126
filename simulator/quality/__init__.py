"""Answer-quality priors in gain space with intervals (issue 18, in progress): `model` holds the curves
(reader, position, recall) and `estimate` combines them per query. The comparison code still uses
`simulator.comparisons.quality` until the catalog and the comparison rows move over."""
