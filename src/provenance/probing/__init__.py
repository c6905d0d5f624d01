"""Probing: sending the probe set to endpoints and recording what came back.

One module per job (no rendering here: the CLI draws progress and tables from the
callbacks and data these return, ``cli/progress.py``, ``cli/scan_view.py``):

* ``one_target.py``: one target, endpoint -> probes -> transcript (``run_probes``) ->
  report (``probe_async``), and one command-line run stored as it goes (``run_single``);
* ``order.py``: the informative probe order, and batches that stop early (``--budget``,
  ``--until-confident``, ``verify``);
* ``pacing.py``: adaptive concurrency for one endpoint (``Pacer``);
* ``lost.py``: what the probes a run lost would have told (reliability notes);
* ``scan.py``: many entrants at once (the scheduler: limits, resume, stalled entrants);
* ``entrants.py``: the entrants a scan probes (a YAML/JSON/CSV file, or a ``/models`` listing);
* ``store.py``: the SQLite run store every run is recorded in.

Turning a transcript into a report is ``attribute.py``; nothing here imports numpy,
httpx or rich at import time.
"""
