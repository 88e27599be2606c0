"""Live verification (核验): after a platform accepted a reprint, look for it where the public sees it.

One checker per channel kind (``checkers``), each naming the public evidence it relies on; a worker
(``worker.Verifier``) with its own budget schedules the checks until the deadline and re-checks verified
reprints for a few days. States: pending → verified | not_visible | unverifiable; verified → gone.
"""
