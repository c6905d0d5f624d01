"""Probing: sending probes to endpoints and recording what came back.

It takes probe ids in order and a stop rule, never a classifier; it neither decides nor
reports (the run layer, ``run/``, composes it with those). One module per job (no rendering
here: the CLI draws progress and tables from the callbacks and data these return,
``cli/progress.py``, ``cli/scan_view.py``):

* ``one_target.py``: one target, endpoint -> probes -> transcript (``run_probes``), and a
  run's probes sent in the order given, all at once or in batches (``send``);
* ``order.py``: the informative order from a ranking of probe ids, and batches that stop
  at a ``--budget`` or by the run layer's stop rule;
* ``pacing.py``: adaptive concurrency for one endpoint (``Pacer``), read from results'
  typed error kinds;
* ``scan.py``: many entrants at once (the scheduler: limits, resume, stalled entrants),
  each run by the run layer's step;
* ``entrants.py``: the entrants a scan probes (a YAML/JSON/CSV file, or a ``/models`` listing);
* ``store.py``: the SQLite run store.

Nothing here imports numpy, httpx or rich at import time.
"""
