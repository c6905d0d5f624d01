"""The run layer: what a command runs, composed from the layers below it, one way.

    choose probes -> send them (probing/) -> decide (attribute.py, verify.py) -> report (report.py)

Probing takes probe ids in order and a stop rule, never the classifier; deciding never
imports probing; both are called from here (and only from here and the CLI), which is the
only place that holds a classifier and an endpoint at once:

* ``steps.py``: the steps every run shares: the probes in the model's informative order
  (``choose_probes``), the stop rule of an adaptive run built from the classifier
  (``stop_rule``: ``--until-confident``, verify's settled verdict), and a transcript's
  report with its claim check (``classify_report_dict``);
* ``target.py``: one target (``probe``, ``verify``, a scan's entrant), stored as it goes;
* ``scan.py``: many entrants (the scheduler is ``probing/scan.py``; this hands it the step
  that decides each entrant, and the entrants' claims);
* ``manual.py``: answers a person pastes (``classify --answers``, ``probe --manual``).

The layer order is written once, in ``docs/architecture.md`` and
``tests/test_import_graph.py`` (which reads every import, function-level ones included).
"""
